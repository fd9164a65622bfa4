// sluice — the hook a negotiated extension (e.g. permessage-deflate, RFC 7692) plugs into.
//
// Why a hook rather than a hard-coded RSV check: without an extension every RSV bit fails the
// connection (1002); with one, the bits it negotiated are handed to it, it decides which frames
// may carry them, and it transforms the payload of messages that use them. The codec still
// does UTF-8 validation and the max-message-size limit on the *transformed* bytes.
//
// Why negotiation is an interface too (extension_negotiator): the server and the client run
// the handshake, but the extensions themselves are opt-in headers with dependencies of their
// own (permessage-deflate needs zlib, <sluice/ws/deflate.hpp>); the core only carries the
// Sec-WebSocket-Extensions values to whatever the settings name and installs the extension
// it returns in the connection's codec.
#pragma once

#include <sluice/config.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/frame.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace sluice {
namespace ws {

class header_list; // handshake.hpp; only referred to here, so the codec need not include it

class extension_sink {
  public:
    // Accepts transformed message bytes; a non-zero error means stop (the codec fails with it).
    virtual error write(const std::uint8_t* data, std::size_t n) noexcept = 0;

  protected:
    ~extension_sink() = default;
};

class extension {
  public:
    virtual ~extension() = default;

    // RSV bits (rsv1/rsv2/rsv3) this extension negotiated. Other bits still fail with 1002.
    virtual std::uint8_t rsv_bits() const noexcept = 0;

    // A frame whose header carries some of rsv_bits(). Return error{} to accept; otherwise the
    // connection fails with close_code_for(result) (use error::extension_failed for 1002).
    virtual error on_header(std::uint8_t rsv, opcode op, bool fin) noexcept = 0;

    // Inbound payload of a message whose first frame carried RSV bits, in arrival order
    // (already unmasked). `last` marks the final bytes of the message. Write the decoded
    // bytes to `out`; propagate any error it returns.
    virtual error decode(const std::uint8_t* data, std::size_t n, bool last,
                         extension_sink& out) noexcept = 0;

    // ---- outbound (optional): whole messages sent with encode_message/send.

    // Whether a data message of n bytes would be transformed: the codec then cannot send
    // the caller's bytes as they are (no zero-copy header-only path).
    virtual bool transforms(opcode, std::size_t) const noexcept { return false; }

    // Appends the transformed payload of a whole message to `out` and returns the RSV bits
    // for its first frame (0: sent as is, `out` untouched). Called only when transforms().
    virtual std::uint8_t encode(opcode, const std::uint8_t*, std::size_t, std::string&) noexcept {
        return 0;
    }
};

// Negotiates an extension in the opening handshake (RFC 6455 §9). One negotiator serves all
// the connections of a server or a client (it may keep resources they share, such as a pool
// of compressor states); each negotiated connection gets an extension object of its own.
// Called on the loop thread of the connection being negotiated; a negotiator shared by
// several loops must synchronize what it shares.
class extension_negotiator {
  public:
    virtual ~extension_negotiator() = default;

    // Server: picks from the request's Sec-WebSocket-Extensions offers. On acceptance, sets
    // `response` to the value of the response's Sec-WebSocket-Extensions header and returns
    // the connection's extension; returns null (and leaves `response` empty) to decline.
    virtual std::unique_ptr<extension> accept_offer(const header_list& request,
                                                    std::string& response) = 0;

    // Client: the value of the request's Sec-WebSocket-Extensions header (empty: no offer).
    virtual void make_offer(std::string& offer) = 0;

    // Client: validates the response's Sec-WebSocket-Extensions against the offer. Returns
    // the connection's extension, or null: with `ec` set the response is invalid and the
    // connection must fail (RFC 6455 §4.1), with `ec` clear the server accepted none.
    virtual std::unique_ptr<extension> accept_response(const header_list& response,
                                                       std::error_code& ec) = 0;
};

} // namespace ws
} // namespace sluice
