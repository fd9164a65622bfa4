// sluice — HTTP message view types shared by the parser, serializer and helpers.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice {
namespace http {

struct header {
    std::string_view name;
    std::string_view value;
};

enum class verb : std::uint8_t {
    other,
    get,
    head,
    post,
    put,
    delete_,
    connect,
    options,
    trace,
    patch
};

namespace detail {

// Lowercase by table; ASCII only, on purpose (header names are ASCII tokens).
struct lower_table {
    unsigned char v[256];
};
constexpr lower_table make_lower_table() {
    lower_table t{};
    for (int i = 0; i < 256; ++i)
        t.v[i] = static_cast<unsigned char>((i >= 'A' && i <= 'Z') ? i + 32 : i);
    return t;
}
inline constexpr lower_table k_lower = make_lower_table();

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (k_lower.v[static_cast<unsigned char>(a[i])] !=
            k_lower.v[static_cast<unsigned char>(b[i])])
            return false;
    return true;
}

} // namespace detail

inline verb to_verb(std::string_view m) noexcept {
    switch (m.size()) {
    case 3:
        if (m == "GET") return verb::get;
        if (m == "PUT") return verb::put;
        break;
    case 4:
        if (m == "HEAD") return verb::head;
        if (m == "POST") return verb::post;
        break;
    case 5:
        if (m == "PATCH") return verb::patch;
        if (m == "TRACE") return verb::trace;
        break;
    case 6:
        if (m == "DELETE") return verb::delete_;
        break;
    case 7:
        if (m == "CONNECT") return verb::connect;
        if (m == "OPTIONS") return verb::options;
        break;
    default:
        break;
    }
    return verb::other;
}

// What the parser learned about one message. Every view points into the
// caller's receive buffer; headers go into the caller's array, so parsing never
// allocates. Trailers (after a chunked body) are appended after the headers.
struct message {
    enum : std::uint8_t {
        f_keep_alive = 1,
        f_chunked = 2,
        f_content_length = 4,
        f_upgrade = 8,
        f_expect_continue = 16,
        f_close_delimited = 32,
        f_transfer_encoding = 64,
        f_body = 128, // body bytes follow the head
    };

    std::string_view method; // request
    std::string_view target; // request
    std::string_view reason; // response
    std::uint64_t content_length = 0;
    header* headers = nullptr;
    std::uint32_t header_capacity = 0;
    std::uint32_t num_headers = 0;
    std::uint32_t num_trailers = 0;
    std::uint16_t status = 0; // response
    http::verb verb = http::verb::other;
    std::uint8_t version_minor = 1; // the major version is always 1
    std::uint8_t flags = 0;

    message() = default;
    message(header* h, std::size_t capacity) noexcept
        : headers(h), header_capacity(static_cast<std::uint32_t>(capacity)) {}

    bool keep_alive() const noexcept { return flags & f_keep_alive; }
    bool chunked() const noexcept { return flags & f_chunked; }
    bool has_content_length() const noexcept { return flags & f_content_length; }
    // Upgrade accepted by the framing (101, 2xx to CONNECT, CONNECT, or a request
    // with `Upgrade` + `Connection: upgrade`): after the message the stream is no
    // longer HTTP/1.1 and the parser stops.
    bool upgrade() const noexcept { return flags & f_upgrade; }
    bool expect_continue() const noexcept { return flags & f_expect_continue; }
    bool close_delimited() const noexcept { return flags & f_close_delimited; }
    bool has_body() const noexcept { return flags & f_body; }

    const header* begin() const noexcept { return headers; }
    const header* end() const noexcept { return headers + num_headers; }
    const header* trailers() const noexcept { return headers + num_headers; }

    // First header with this name (case-insensitive), or nullptr.
    const header* find(std::string_view name) const noexcept {
        for (std::uint32_t i = 0; i < num_headers; ++i)
            if (detail::iequals(headers[i].name, name)) return &headers[i];
        return nullptr;
    }
    std::string_view get(std::string_view name) const noexcept {
        const header* h = find(name);
        return h ? h->value : std::string_view();
    }
};

// A message that owns its header array, for the common case.
template <std::size_t N>
struct message_storage : message {
    header storage[N];
    message_storage() noexcept : message(storage, N) {}
    message_storage(const message_storage&) = delete;
    message_storage& operator=(const message_storage&) = delete;
};

} // namespace http
} // namespace sluice
