// sluice — the WebSocket opening handshake (RFC 6455 §4), sans-I/O.
//
// Why it takes a method, a version and a list of header views instead of a parsed request
// type: the handshake must work with any HTTP parser (sluice's own, or a user's), so it only
// needs name/value string views. Names compare case-insensitively; a header may repeat, and
// list-valued headers (Upgrade, Connection, Sec-WebSocket-Protocol) are read across repeats.
#pragma once

#include <sluice/config.hpp>
#include <sluice/util/base64.hpp>
#include <sluice/util/sha1.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/random.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sluice {
namespace ws {

inline constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

namespace detail {
inline constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
} // namespace detail

inline constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (detail::ascii_lower(a[i]) != detail::ascii_lower(b[i])) return false;
    return true;
}

inline constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && detail::is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && detail::is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Calls f(element) for each non-empty, OWS-trimmed element of a comma-separated list value;
// stops early when f returns true and reports whether it did.
template <class F>
bool for_each_list_element(std::string_view v, F&& f) {
    while (true) {
        const std::size_t c = v.find(',');
        const std::string_view el = trim_ows(v.substr(0, c));
        if (!el.empty() && f(el)) return true;
        if (c == std::string_view::npos) return false;
        v.remove_prefix(c + 1);
    }
}

struct header_field {
    std::string_view name;
    std::string_view value;
};

// A non-owning view of header fields.
class header_list {
  public:
    constexpr header_list() noexcept = default;
    constexpr header_list(const header_field* d, std::size_t n) noexcept : data_(d), size_(n) {}
    template <std::size_t N>
    constexpr header_list(const header_field (&a)[N]) noexcept : data_(a), size_(N) {}
    header_list(const std::vector<header_field>& v) noexcept : data_(v.data()), size_(v.size()) {}

    std::size_t count(std::string_view name) const noexcept {
        std::size_t c = 0;
        for (std::size_t i = 0; i < size_; ++i) c += iequals(data_[i].name, name) ? 1 : 0;
        return c;
    }

    // The value of the first field called `name` (OWS-trimmed), or an empty view.
    std::string_view get(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < size_; ++i)
            if (iequals(data_[i].name, name)) return trim_ows(data_[i].value);
        return {};
    }

    // Whether any element of any `name` field equals token, case-insensitively.
    bool has_token(std::string_view name, std::string_view token) const {
        for (std::size_t i = 0; i < size_; ++i)
            if (iequals(data_[i].name, name) &&
                for_each_list_element(data_[i].value,
                                      [&](std::string_view el) { return iequals(el, token); }))
                return true;
        return false;
    }

    // f(element) for each list element of every `name` field; stops when f returns true.
    template <class F>
    bool for_each_element(std::string_view name, F&& f) const {
        for (std::size_t i = 0; i < size_; ++i)
            if (iequals(data_[i].name, name) && for_each_list_element(data_[i].value, f))
                return true;
        return false;
    }

    const header_field* begin() const noexcept { return data_; }
    const header_field* end() const noexcept { return data_ + size_; }
    std::size_t size() const noexcept { return size_; }

  private:
    const header_field* data_ = nullptr;
    std::size_t size_ = 0;
};

// Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), RFC 6455 §4.2.2 item 5.
SLUICE_DECL std::string compute_accept(std::string_view key);

// "HTTP/1.1" or a later 1.x.
inline constexpr bool is_http11_or_later(std::string_view v) noexcept {
    if (v.size() < 8 || v.substr(0, 7) != "HTTP/1.") return false;
    for (std::size_t i = 7; i < v.size(); ++i)
        if (v[i] < '0' || v[i] > '9') return false;
    return v.size() > 8 || v[7] >= '1';
}

// A list of strings the caller owns (subprotocols).
struct string_list {
    const std::string_view* data = nullptr;
    std::size_t size = 0;
    constexpr string_list() noexcept = default;
    constexpr string_list(const std::string_view* d, std::size_t n) noexcept : data(d), size(n) {}
    template <std::size_t N>
    constexpr string_list(const std::string_view (&a)[N]) noexcept : data(a), size(N) {}
    bool contains(std::string_view s) const noexcept {
        for (std::size_t i = 0; i < size; ++i)
            if (data[i] == s) return true;
        return false;
    }
};

// ---------------------------------------------------------------- server side

struct request_view {
    std::string_view method;
    std::string_view version; // "HTTP/1.1"
    header_list headers;
};

struct origin_hook {
    // Return true to accept. `origin` is empty when the request has no Origin header (non-
    // browser clients need not send one).
    using fn_t = bool (*)(void* ctx, std::string_view origin);
    fn_t fn = nullptr;
    void* ctx = nullptr;

    template <class F>
    static origin_hook from(F& f) noexcept {
        origin_hook h;
        h.fn = [](void* c, std::string_view o) -> bool { return (*static_cast<F*>(c))(o); };
        h.ctx = &f;
        return h;
    }
};

struct server_config {
    // Subprotocols the server speaks, most preferred first; the first that the client also
    // offered is selected. Subprotocol names compare case-sensitively.
    string_list subprotocols{};
    origin_hook check_origin{};
    // Raw header lines ("Name: value\r\n") appended to the 101 response.
    std::string_view extra_headers{};
};

struct server_handshake {
    std::error_code ec;           // empty on success
    int status = 0;               // 101 on success, else the HTTP error status
    std::string response;         // the complete response head to send
    std::string_view subprotocol; // the selected one (a view into the request), may be empty

    bool ok() const noexcept { return status == 101; }
};

namespace detail {
SLUICE_DECL const char* reason_phrase(int status) noexcept;

SLUICE_DECL server_handshake reject(error e);
} // namespace detail

// Validates an opening handshake request and produces the response to send: the 101 on
// success, or an error status (400, 403, 405, 426) with Connection: close.
SLUICE_DECL server_handshake accept_handshake(const request_view& req,
                                              const server_config& cfg = {});

// ---------------------------------------------------------------- client side

struct client_config {
    std::string_view host;            // Host header value (authority, with port if not default)
    std::string_view target = "/";    // request-target
    std::string_view origin{};        // sent when non-empty
    string_list subprotocols{};       // offered, in preference order
    std::string_view extra_headers{}; // raw "Name: value\r\n" lines
    // true: the request offered extensions (in extra_headers) and the caller checks the
    // response's Sec-WebSocket-Extensions itself (extension_negotiator::accept_response).
    bool extensions_offered = false;
};

struct client_request {
    std::string key;     // the Sec-WebSocket-Key sent (needed to verify the response)
    std::string request; // the complete request head to send
};

// Builds the request with a fresh 16-byte nonce from rng (std::random_device by default).
SLUICE_DECL client_request make_client_request(const client_config& cfg, random_source rng = {});

struct response_view {
    std::string_view version; // "HTTP/1.1"
    int status = 0;
    header_list headers;
};

// Verifies the server's answer (RFC 6455 §4.1, the client's checks 1-6). On success
// `subprotocol` (if given) receives the selected subprotocol, empty if none. Any
// Sec-WebSocket-Extensions in the response fails unless cfg.extensions_offered.
SLUICE_DECL std::error_code verify_response(const response_view& res, std::string_view key,
                                            const client_config& cfg,
                                            std::string_view* subprotocol = nullptr);

} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/handshake.ipp>
#endif
