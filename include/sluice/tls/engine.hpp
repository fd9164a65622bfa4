// sluice — TLS as a sans-I/O engine: ciphertext in and out, plaintext in and out, never a
// socket. The loop and the streams talk to TLS only through this interface, so the library
// has no TLS dependency: an adapter (<sluice/tls/openssl.hpp>, opt-in) implements it on a
// TLS library, and a stream given an engine encrypts and decrypts through it
// (docs/guide/tls.md).
//
// The cycle an owner runs, in any order that keeps bytes in order:
//   feed(ciphertext from the peer)   -> the engine keeps what it cannot use yet
//   handshake()                      -> done, or want_input (feed more), or an error
//   read(plaintext buffer)           -> decrypted bytes; error::eof after close_notify
//   write(plaintext)                 -> encrypted into the engine's output
//   take_output()                    -> ciphertext to send to the peer (wants-write)
//   close_notify()                   -> the closing alert, then take_output()
// Every call may leave output (a handshake message, an alert, a key update answer): the
// owner sends take_output() after each.
#pragma once

#include <sluice/config.hpp>
#include <sluice/platform/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice {
namespace tls {

enum class error {
    handshake_failed = 1, // the peers could not agree (versions, ciphers, a bad message)
    verify_failed,        // the peer's certificate chain or host name did not check out
    protocol_error,       // a malformed or unexpected record after the handshake
    truncated,            // the transport ended without close_notify (a cut stream)
    not_configured,       // the context lacks what the role needs (a server without a cert)
};

namespace detail {
class error_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.tls"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::handshake_failed:
            return "TLS handshake failed";
        case error::verify_failed:
            return "TLS peer certificate verification failed";
        case error::protocol_error:
            return "TLS protocol error";
        case error::truncated:
            return "TLS stream ended without close_notify";
        case error::not_configured:
            return "TLS context is not configured for this role";
        }
        return "unknown TLS error";
    }
};
} // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl cat;
    return cat;
}
inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

enum class handshake_status {
    done,       // keys agreed: plaintext may flow
    want_input, // needs more ciphertext from the peer (after sending take_output())
    failed,     // see last_error(); send take_output() (an alert) and close
};

class engine {
  public:
    virtual ~engine() = default;

    // Ciphertext received from the peer; the engine keeps all of it.
    virtual void feed(const char* data, std::size_t n) = 0;
    virtual handshake_status handshake() = 0;
    virtual bool handshake_done() const noexcept = 0;
    // After handshake_status::failed: error::verify_failed when the peer's certificate was
    // the reason, else error::handshake_failed.
    virtual std::error_code handshake_error() const noexcept = 0;
    // Up to cap plaintext bytes. 0 with ec clear: nothing decryptable yet (feed more).
    // ec == sluice::error::eof: the peer sent close_notify. Any other ec: the stream is bad.
    virtual std::size_t read(char* buf, std::size_t cap, std::error_code& ec) = 0;
    // Encrypts all n bytes into the output (after the handshake).
    virtual std::error_code write(const char* data, std::size_t n) = 0;
    // Ciphertext to send, appended to out; returns how many bytes were appended.
    virtual std::size_t take_output(std::string& out) = 0;
    virtual bool has_output() const noexcept = 0;
    virtual void close_notify() = 0;
    // The transport ended (TCP FIN): ok only after close_notify, else error::truncated.
    virtual std::error_code transport_eof() = 0;

    // After the handshake: the protocol ALPN chose ("" when none), the name the client
    // sent (SNI), whether the session was resumed.
    virtual std::string alpn() const = 0;
    virtual std::string server_name() const = 0;
    virtual bool session_reused() const noexcept = 0;
    // A readable reason for the last failure (the library's own words).
    virtual std::string last_error() const = 0;
};

// Makes engines: one per connection. Shared by the listener or the connecting streams
// that use it (a server context holds its certificates, a client one its trust store).
class context {
  public:
    virtual ~context() = default;
    // A server-side engine.
    virtual std::unique_ptr<engine> make_server() = 0;
    // A client-side engine that sends SNI `host` and, when verifying, checks the
    // certificate against it.
    virtual std::unique_ptr<engine> make_client(std::string_view host) = 0;
    // The same for a connection to host:port (what the streams call): a context that resumes
    // sessions keeps them per host and port, since another port may be another server. By
    // default the port plays no part. (Another name, not an overload: an adapter overriding
    // one would hide the other.)
    virtual std::unique_ptr<engine> make_client_for(std::string_view host, std::uint16_t port) {
        (void)port;
        return make_client(host);
    }
};

} // namespace tls
} // namespace sluice

template <>
struct std::is_error_code_enum<sluice::tls::error> : std::true_type {};
