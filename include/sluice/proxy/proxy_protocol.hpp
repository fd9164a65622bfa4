// sluice — the PROXY protocol, versions 1 and 2 (haproxy's proxy-protocol.txt), sans-I/O.
//
// A load balancer that relays TCP (HAProxy `send-proxy`, nginx `proxy_protocol on`, AWS
// NLB, ...) puts one header before the client's first byte, telling who the client was.
//
//     sluice::proxy::header h;
//     sluice::proxy::parse_result r = sluice::proxy::parse(bytes_so_far, h);
//     // need_more: call again with more bytes (the same ones, plus what arrived);
//     // complete: the header is bytes_so_far[0, r.consumed), the rest is the payload;
//     // error: drop the connection (r.ec says why).
//
// parse() keeps no state and never reads past its input nor allocates: the views in
// the header (TLVs, Unix paths) point into the caller's bytes. A header that can no
// longer become valid is rejected as soon as the bytes that break it are seen (a v1
// line only once its CRLF, or 107 bytes, arrived); the same input gives the same
// result however it is split.
//
// Strict, as the specification asks of receivers: v1 fields separated by exactly one
// space, IPv4 without leading zeros, ports 0-65535 without leading zeros, the family
// matching the addresses; v2 version 2, command LOCAL or PROXY, a known family, a length
// that holds the address block and a well-formed TLV list whose CRC32C, when present,
// matches. A receiver must not guess: with the protocol on, a missing header is an error.
//
// LOCAL (v2) and UNKNOWN (v1) carry no client: use the connection's own addresses;
// header::proxied() says whether source/destination are meaningful.
#pragma once

#include <sluice/config.hpp>
#include <sluice/platform/endpoint.hpp>
#include <sluice/util/ip_text.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace sluice {
namespace proxy {

enum class error : std::uint8_t {
    not_proxy = 1, // neither "PROXY " nor the v2 signature
    v1_too_long,
    v1_bad_line_end,
    v1_bad_protocol,
    v1_bad_syntax,
    v1_bad_address,
    v1_bad_port,
    v2_bad_version,
    v2_bad_command,
    v2_bad_family,
    v2_too_long,
    v2_short_address,
    v2_bad_tlv,
    v2_bad_checksum,
};

} // namespace proxy
} // namespace sluice

namespace std {
template <>
struct is_error_code_enum<sluice::proxy::error> : true_type {};
} // namespace std

namespace sluice {
namespace proxy {

namespace detail {

class proxy_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.proxy"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::not_proxy:
            return "connection does not start with a PROXY protocol header";
        case error::v1_too_long:
            return "PROXY v1 line without CRLF in its first 107 bytes";
        case error::v1_bad_line_end:
            return "PROXY v1 line ends in LF without CR";
        case error::v1_bad_protocol:
            return "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN";
        case error::v1_bad_syntax:
            return "PROXY v1 line does not hold exactly four fields separated by single spaces";
        case error::v1_bad_address:
            return "PROXY v1 address is malformed or of the wrong family";
        case error::v1_bad_port:
            return "PROXY v1 port is not a decimal number 0-65535 without leading zeros";
        case error::v2_bad_version:
            return "PROXY v2 version is not 2";
        case error::v2_bad_command:
            return "PROXY v2 command is neither LOCAL nor PROXY";
        case error::v2_bad_family:
            return "PROXY v2 address family or transport is not a known one";
        case error::v2_too_long:
            return "PROXY v2 header longer than the configured limit";
        case error::v2_short_address:
            return "PROXY v2 length too short for the address block of its family";
        case error::v2_bad_tlv:
            return "PROXY v2 TLV list is malformed";
        case error::v2_bad_checksum:
            return "PROXY v2 CRC32C does not match the header";
        }
        return "unknown sluice.proxy error";
    }
};

} // namespace detail

SLUICE_DECL const std::error_category& proxy_category() noexcept;

SLUICE_DECL std::error_code make_error_code(error e) noexcept;

// The longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses).
inline constexpr std::size_t v1_max_size = 107;
// The fixed part of a v2 header; its length field counts the bytes after it.
inline constexpr std::size_t v2_fixed_size = 16;
inline constexpr std::string_view v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};

// TLV types (proxy-protocol.txt §2.2).
namespace tlv_type {
inline constexpr std::uint8_t alpn = 0x01;
inline constexpr std::uint8_t authority = 0x02;
inline constexpr std::uint8_t crc32c = 0x03;
inline constexpr std::uint8_t noop = 0x04;
inline constexpr std::uint8_t unique_id = 0x05;
inline constexpr std::uint8_t ssl = 0x20;
inline constexpr std::uint8_t ssl_version = 0x21; // the sub-TLVs of ssl
inline constexpr std::uint8_t ssl_cn = 0x22;
inline constexpr std::uint8_t ssl_cipher = 0x23;
inline constexpr std::uint8_t ssl_sig_alg = 0x24;
inline constexpr std::uint8_t ssl_key_alg = 0x25;
inline constexpr std::uint8_t netns = 0x30;
} // namespace tlv_type

struct limits {
    // The whole v2 header, fixed part included. The format allows 16 + 65535 bytes;
    // real senders use a few hundred at most.
    std::size_t max_v2_size = v2_fixed_size + 4096;
};

enum class command : std::uint8_t { local, proxy };
enum class family : std::uint8_t { unspec, ipv4, ipv6, unix_socket };
enum class transport : std::uint8_t { unspec, stream, dgram };

struct tlv {
    std::uint8_t type = 0;
    std::string_view value;
};

// Walks an encoded TLV list that valid_tlvs() accepted (header::tlvs() is one).
class tlv_iterator {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = tlv;
    using difference_type = std::ptrdiff_t;
    using pointer = const tlv*;
    using reference = const tlv&;

    tlv_iterator() noexcept = default;
    explicit tlv_iterator(std::string_view rest) noexcept : rest_(rest) { load(); }

    reference operator*() const noexcept { return cur_; }
    pointer operator->() const noexcept { return &cur_; }
    tlv_iterator& operator++() noexcept {
        rest_.remove_prefix(3 + cur_.value.size());
        load();
        return *this;
    }
    tlv_iterator operator++(int) noexcept {
        tlv_iterator old = *this;
        ++*this;
        return old;
    }
    friend bool operator==(const tlv_iterator& a, const tlv_iterator& b) noexcept {
        return a.rest_.size() == b.rest_.size();
    }
    friend bool operator!=(const tlv_iterator& a, const tlv_iterator& b) noexcept {
        return !(a == b);
    }

  private:
    void load() noexcept {
        if (rest_.size() < 3) {
            rest_ = {};
            return;
        }
        std::size_t n = static_cast<std::size_t>(static_cast<unsigned char>(rest_[1])) << 8 |
                        static_cast<unsigned char>(rest_[2]);
        if (n > rest_.size() - 3) n = rest_.size() - 3; // not reached on a validated list
        cur_.type = static_cast<std::uint8_t>(rest_[0]);
        cur_.value = rest_.substr(3, n);
    }
    std::string_view rest_;
    tlv cur_;
};

class tlv_range {
  public:
    tlv_range() noexcept = default;
    explicit tlv_range(std::string_view bytes) noexcept : bytes_(bytes) {}
    tlv_iterator begin() const noexcept { return tlv_iterator(bytes_); }
    tlv_iterator end() const noexcept { return tlv_iterator(); }
    bool empty() const noexcept { return bytes_.empty(); }
    // The value of the first TLV of that type.
    std::optional<std::string_view> find(std::uint8_t type) const noexcept {
        for (const tlv& t : *this)
            if (t.type == type) return t.value;
        return std::nullopt;
    }

  private:
    std::string_view bytes_;
};

// Each TLV's 3-byte type and length, then its value, filling `bytes` exactly.
SLUICE_DECL bool valid_tlvs(std::string_view bytes) noexcept;

// The value of an ssl TLV: what the client presented, then sub-TLVs (version, cn, ...).
struct ssl_info {
    std::uint8_t client =
        0; // bits: 0x01 over TLS, 0x02 cert on the connection, 0x04 in the session
    std::uint32_t verify = 0; // 0: the client certificate was verified
    tlv_range sub;
};

SLUICE_DECL bool parse_ssl(std::string_view value, ssl_info& out) noexcept;

struct header {
    int version = 0; // 1 or 2
    proxy::command command = proxy::command::local;
    proxy::family family = proxy::family::unspec;
    proxy::transport transport = proxy::transport::unspec;
    // The client and the address it connected to, for ipv4 and ipv6 (and for Unix paths
    // where the platform has them and they fit a sockaddr_un).
    endpoint source;
    endpoint destination;
    // unix_socket: the paths, NUL padding removed (an abstract name keeps its leading NUL).
    std::string_view source_path;
    std::string_view destination_path;
    // v2: the TLV list after the addresses (validated).
    std::string_view tlv_bytes;

    // The addresses describe the original connection; otherwise (LOCAL, UNKNOWN,
    // UNSPEC) the connection's own addresses are the ones to use.
    bool proxied() const noexcept {
        return command == proxy::command::proxy && family != proxy::family::unspec;
    }
    tlv_range tlvs() const noexcept { return tlv_range(tlv_bytes); }
};

enum class parse_status : std::uint8_t { complete, need_more, error };

struct parse_result {
    parse_status status = parse_status::need_more;
    std::size_t consumed = 0; // the header's size when complete, else 0
    std::error_code ec;
};

namespace detail {

// CRC32C (Castagnoli, reflected 0x82F63B78), bit by bit: headers are small and rare.
SLUICE_DECL std::uint32_t crc32c_update(std::uint32_t crc, const unsigned char* p,
                                        std::size_t n) noexcept;
SLUICE_DECL std::uint32_t crc32c(std::string_view s) noexcept;

// The checksum of `whole` with the 4 bytes at `field` taken as zero.
SLUICE_DECL std::uint32_t crc32c_zeroed(std::string_view whole, std::size_t field) noexcept;

SLUICE_DECL endpoint inet_endpoint(const std::uint8_t* addr, bool v6, std::uint16_t port) noexcept;

SLUICE_DECL std::string_view unix_path_view(std::string_view block) noexcept;

SLUICE_DECL endpoint unix_endpoint(std::string_view path) noexcept;

SLUICE_DECL parse_result fail(error e) noexcept;

SLUICE_DECL parse_result parse_v1(std::string_view in, header& out) noexcept;

SLUICE_DECL parse_result parse_v2(std::string_view in, header& out, const limits& lim) noexcept;

SLUICE_DECL void put_u16(std::string& out, std::size_t v);

} // namespace detail

// Parses the header at the start of `in`; see the top of this file. `out` is filled
// when the result is complete, and left empty otherwise.
SLUICE_DECL parse_result parse(std::string_view in, header& out, const limits& lim = {}) noexcept;

// ---- writing, for a proxy or a test: the header to put before the client's bytes ----

// "PROXY TCP4|TCP6 src dst sport dport\r\n"; "PROXY UNKNOWN\r\n" unless both endpoints
// are IPv4 or both IPv6.
SLUICE_DECL void append_v1(std::string& out, const endpoint& source, const endpoint& destination);

SLUICE_DECL void append_tlv(std::string& out, std::uint8_t type, std::string_view value);

// A v2 header: PROXY over TCP with both endpoints when they are of one family (IPv4,
// IPv6 or, where available, Unix stream), LOCAL or PROXY-UNSPEC otherwise, then `tlvs`
// (encoded with append_tlv) and, if asked, a CRC32C TLV. False, and nothing appended,
// when the TLVs do not fit the 16-bit length.
SLUICE_DECL bool append_v2(std::string& out, command cmd, const endpoint& source,
                           const endpoint& destination, std::string_view tlvs = {},
                           bool checksum = false);

} // namespace proxy
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/proxy/impl/proxy_protocol.ipp>
#endif
