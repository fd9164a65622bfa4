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

inline const std::error_category& proxy_category() noexcept {
    static const detail::proxy_category_impl cat;
    return cat;
}

inline std::error_code make_error_code(error e) noexcept {
    return std::error_code(static_cast<int>(e), proxy_category());
}

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
inline bool valid_tlvs(std::string_view bytes) noexcept {
    while (!bytes.empty()) {
        if (bytes.size() < 3) return false;
        std::size_t n = static_cast<std::size_t>(static_cast<unsigned char>(bytes[1])) << 8 |
                        static_cast<unsigned char>(bytes[2]);
        if (n > bytes.size() - 3) return false;
        bytes.remove_prefix(3 + n);
    }
    return true;
}

// The value of an ssl TLV: what the client presented, then sub-TLVs (version, cn, ...).
struct ssl_info {
    std::uint8_t client =
        0; // bits: 0x01 over TLS, 0x02 cert on the connection, 0x04 in the session
    std::uint32_t verify = 0; // 0: the client certificate was verified
    tlv_range sub;
};

inline bool parse_ssl(std::string_view value, ssl_info& out) noexcept {
    if (value.size() < 5 || !valid_tlvs(value.substr(5))) return false;
    out.client = static_cast<std::uint8_t>(value[0]);
    out.verify = 0;
    for (std::size_t i = 1; i < 5; ++i)
        out.verify = out.verify << 8 | static_cast<unsigned char>(value[i]);
    out.sub = tlv_range(value.substr(5));
    return true;
}

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
inline std::uint32_t crc32c_update(std::uint32_t crc, const unsigned char* p,
                                   std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}
inline std::uint32_t crc32c(std::string_view s) noexcept {
    return ~crc32c_update(~0u, reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// The checksum of `whole` with the 4 bytes at `field` taken as zero.
inline std::uint32_t crc32c_zeroed(std::string_view whole, std::size_t field) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(whole.data());
    const unsigned char zeros[4] = {0, 0, 0, 0};
    std::uint32_t crc = crc32c_update(~0u, p, field);
    crc = crc32c_update(crc, zeros, 4);
    crc = crc32c_update(crc, p + field + 4, whole.size() - field - 4);
    return ~crc;
}

inline endpoint inet_endpoint(const std::uint8_t* addr, bool v6, std::uint16_t port) noexcept {
    if (v6) {
        sockaddr_in6 sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sin6_family = AF_INET6;
        std::memcpy(&sa.sin6_addr, addr, 16);
        sa.sin6_port = htons(port);
        return endpoint(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    }
    sockaddr_in sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, addr, 4);
    sa.sin_port = htons(port);
    return endpoint(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
}

inline std::string_view unix_path_view(std::string_view block) noexcept {
    if (!block.empty() && block[0] != '\0') return block.substr(0, block.find('\0'));
    while (!block.empty() && block.back() == '\0') block.remove_suffix(1);
    return block; // abstract: leading NUL kept; all NULs: unnamed, empty
}

inline endpoint unix_endpoint(std::string_view path) noexcept {
#if SLUICE_HAS_UNIX_SOCKETS
    std::error_code ec;
    if (!path.empty()) return endpoint::unix_path(path, ec);
#else
    (void)path;
#endif
    return endpoint();
}

inline parse_result fail(error e) noexcept {
    return parse_result{parse_status::error, 0, make_error_code(e)};
}

inline parse_result parse_v1(std::string_view in, header& out) noexcept {
    constexpr std::string_view magic = "PROXY ";
    const std::size_t k = in.size() < magic.size() ? in.size() : magic.size();
    if (in.substr(0, k) != magic.substr(0, k)) return fail(error::not_proxy);
    const std::size_t lf = in.substr(0, v1_max_size).find('\n');
    if (lf == std::string_view::npos) {
        if (in.size() >= v1_max_size) return fail(error::v1_too_long);
        return parse_result{};
    }
    if (in[lf - 1] != '\r') return fail(error::v1_bad_line_end);
    std::string_view line = in.substr(magic.size(), lf - 1 - magic.size());
    const std::size_t sp = line.find(' ');
    const std::string_view proto = line.substr(0, sp);
    out.version = 1;
    out.command = command::proxy;
    if (proto == "UNKNOWN") // the rest of the line is to be ignored
        return parse_result{parse_status::complete, lf + 1, {}};
    const bool v6 = proto == "TCP6";
    if (!v6 && proto != "TCP4") return fail(error::v1_bad_protocol);
    std::string_view field[4];
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    for (int i = 0; i < 4; ++i) {
        std::size_t end = rest.find(' ');
        if ((end == std::string_view::npos) != (i == 3)) return fail(error::v1_bad_syntax);
        field[i] = rest.substr(0, end);
        if (field[i].empty()) return fail(error::v1_bad_syntax);
        if (i < 3) rest.remove_prefix(end + 1);
    }
    std::uint8_t src[16], dst[16], src4[4], dst4[4];
    const bool ok = v6 ? sluice::detail::parse_ipv6_text(field[0], src) &&
                             sluice::detail::parse_ipv6_text(field[1], dst)
                       : sluice::detail::parse_ipv4_text(field[0], src4) &&
                             sluice::detail::parse_ipv4_text(field[1], dst4);
    if (!ok) return fail(error::v1_bad_address);
    std::uint16_t sport = 0, dport = 0;
    if (!sluice::detail::parse_port_text(field[2], sport) ||
        !sluice::detail::parse_port_text(field[3], dport))
        return fail(error::v1_bad_port);
    out.family = v6 ? family::ipv6 : family::ipv4;
    out.transport = transport::stream;
    out.source = inet_endpoint(v6 ? src : src4, v6, sport);
    out.destination = inet_endpoint(v6 ? dst : dst4, v6, dport);
    return parse_result{parse_status::complete, lf + 1, {}};
}

inline parse_result parse_v2(std::string_view in, header& out, const limits& lim) noexcept {
    const std::size_t k = in.size() < v2_signature.size() ? in.size() : v2_signature.size();
    if (in.substr(0, k) != v2_signature.substr(0, k)) return fail(error::not_proxy);
    const auto at = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
    if (in.size() < 13) return parse_result{};
    if (at(12) >> 4 != 2) return fail(error::v2_bad_version);
    if ((at(12) & 0xf) > 1) return fail(error::v2_bad_command);
    const bool is_proxy = (at(12) & 0xf) == 1;
    if (in.size() < 14) return parse_result{};
    const unsigned fam = at(13);
    std::size_t addr_len = 0;
    if (is_proxy) { // LOCAL ignores the family byte, as the specification says
        switch (fam) {
        case 0x00:
            break;
        case 0x11:
        case 0x12:
            addr_len = 12;
            break;
        case 0x21:
        case 0x22:
            addr_len = 36;
            break;
        case 0x31:
        case 0x32:
            addr_len = 216;
            break;
        default:
            return fail(error::v2_bad_family);
        }
    }
    if (in.size() < v2_fixed_size) return parse_result{};
    const std::size_t len = static_cast<std::size_t>(at(14)) << 8 | at(15);
    const std::size_t total = v2_fixed_size + len;
    if (total > lim.max_v2_size) return fail(error::v2_too_long);
    if (len < addr_len) return fail(error::v2_short_address);
    if (in.size() < total) return parse_result{};

    const std::string_view whole = in.substr(0, total);
    out.version = 2;
    out.command = is_proxy ? command::proxy : command::local;
    if (!is_proxy || fam == 0x00) // no addresses to use; the block is to be skipped
        return parse_result{parse_status::complete, total, {}};
    const auto* p = reinterpret_cast<const unsigned char*>(whole.data()) + v2_fixed_size;
    out.transport = (fam & 0xf) == 1 ? transport::stream : transport::dgram;
    if (fam >> 4 == 3) {
        out.family = family::unix_socket;
        out.source_path = unix_path_view(whole.substr(v2_fixed_size, 108));
        out.destination_path = unix_path_view(whole.substr(v2_fixed_size + 108, 108));
        out.source = unix_endpoint(out.source_path);
        out.destination = unix_endpoint(out.destination_path);
    } else {
        const bool v6 = fam >> 4 == 2;
        const std::size_t a = v6 ? 16 : 4;
        out.family = v6 ? family::ipv6 : family::ipv4;
        const auto port = [&](std::size_t at) {
            return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]);
        };
        out.source = inet_endpoint(p, v6, port(2 * a));
        out.destination = inet_endpoint(p + a, v6, port(2 * a + 2));
    }
    out.tlv_bytes = whole.substr(v2_fixed_size + addr_len);
    if (!valid_tlvs(out.tlv_bytes)) return fail(error::v2_bad_tlv);
    std::string_view crc;
    for (const tlv& t : out.tlvs()) {
        if (t.type == tlv_type::crc32c) {
            if (crc.data() || t.value.size() != 4) return fail(error::v2_bad_tlv);
            crc = t.value;
        } else if (t.type == tlv_type::ssl) {
            ssl_info ssl;
            if (!parse_ssl(t.value, ssl)) return fail(error::v2_bad_tlv);
        }
    }
    if (crc.data()) {
        std::uint32_t sent = 0;
        for (char c : crc) sent = sent << 8 | static_cast<unsigned char>(c);
        const auto field = static_cast<std::size_t>(crc.data() - whole.data());
        if (crc32c_zeroed(whole, field) != sent) return fail(error::v2_bad_checksum);
    }
    return parse_result{parse_status::complete, total, {}};
}

inline void put_u16(std::string& out, std::size_t v) {
    out += static_cast<char>((v >> 8) & 0xff);
    out += static_cast<char>(v & 0xff);
}

} // namespace detail

// Parses the header at the start of `in`; see the top of this file. `out` is filled
// when the result is complete, and left empty otherwise.
inline parse_result parse(std::string_view in, header& out, const limits& lim = {}) noexcept {
    out = header();
    parse_result r = detail::fail(error::not_proxy);
    if (in.empty())
        r = parse_result{};
    else if (in[0] == 'P')
        r = detail::parse_v1(in, out);
    else if (in[0] == '\r')
        r = detail::parse_v2(in, out, lim);
    if (r.status != parse_status::complete) out = header();
    return r;
}

// ---- writing, for a proxy or a test: the header to put before the client's bytes ----

// "PROXY TCP4|TCP6 src dst sport dport\r\n"; "PROXY UNKNOWN\r\n" unless both endpoints
// are IPv4 or both IPv6.
inline void append_v1(std::string& out, const endpoint& source, const endpoint& destination) {
    const int f = source.family();
    if ((f != AF_INET && f != AF_INET6) || destination.family() != f) {
        out += "PROXY UNKNOWN\r\n";
        return;
    }
    out += f == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ";
    out += source.address();
    out += ' ';
    out += destination.address();
    out += ' ';
    out += std::to_string(source.port());
    out += ' ';
    out += std::to_string(destination.port());
    out += "\r\n";
}

inline void append_tlv(std::string& out, std::uint8_t type, std::string_view value) {
    out += static_cast<char>(type);
    detail::put_u16(out, value.size());
    out.append(value.data(), value.size());
}

// A v2 header: PROXY over TCP with both endpoints when they are of one family (IPv4,
// IPv6 or, where available, Unix stream), LOCAL or PROXY-UNSPEC otherwise, then `tlvs`
// (encoded with append_tlv) and, if asked, a CRC32C TLV. False, and nothing appended,
// when the TLVs do not fit the 16-bit length.
inline bool append_v2(std::string& out, command cmd, const endpoint& source,
                      const endpoint& destination, std::string_view tlvs = {},
                      bool checksum = false) {
    unsigned char fam = 0x00;
    std::size_t addr_len = 0;
    const int f = source.family();
    if (cmd == command::proxy && destination.family() == f) {
        if (f == AF_INET) {
            fam = 0x11;
            addr_len = 12;
        } else if (f == AF_INET6) {
            fam = 0x21;
            addr_len = 36;
        }
#if SLUICE_HAS_UNIX_SOCKETS
        if (f == AF_UNIX) {
            fam = 0x31;
            addr_len = 216;
        }
#endif
    }
    const std::size_t len = addr_len + tlvs.size() + (checksum ? 7 : 0);
    if (len > 0xffff) return false;
    const std::size_t start = out.size();
    out.append(v2_signature.data(), v2_signature.size());
    out += static_cast<char>(cmd == command::proxy ? 0x21 : 0x20);
    out += static_cast<char>(fam);
    detail::put_u16(out, len);
    if (fam == 0x11 || fam == 0x21) {
        const auto bytes = [](const endpoint& ep) {
            if (ep.family() == AF_INET)
                return std::string_view(
                    reinterpret_cast<const char*>(
                        &reinterpret_cast<const sockaddr_in*>(ep.data())->sin_addr),
                    4);
            return std::string_view(
                reinterpret_cast<const char*>(
                    &reinterpret_cast<const sockaddr_in6*>(ep.data())->sin6_addr),
                16);
        };
        out += bytes(source);
        out += bytes(destination);
        detail::put_u16(out, source.port());
        detail::put_u16(out, destination.port());
    } else if (fam == 0x31) {
        for (const endpoint* ep : {&source, &destination}) {
            std::string path = ep->address();
            path.resize(108, '\0');
            out += path;
        }
    }
    out.append(tlvs.data(), tlvs.size());
    if (checksum) {
        append_tlv(out, tlv_type::crc32c, std::string_view("\0\0\0\0", 4));
        const std::string_view whole(out.data() + start, out.size() - start);
        std::uint32_t crc = detail::crc32c_zeroed(whole, whole.size() - 4);
        for (int i = 0; i < 4; ++i)
            out[out.size() - 4 + static_cast<std::size_t>(i)] =
                static_cast<char>((crc >> (24 - 8 * i)) & 0xff);
    }
    return true;
}

} // namespace proxy
} // namespace sluice
