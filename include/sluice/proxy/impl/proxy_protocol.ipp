// sluice — out-of-line bodies of sluice/proxy/proxy_protocol.hpp: compiled in every translation
// unit when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/proxy/proxy_protocol.hpp>

namespace sluice {
namespace proxy {

SLUICE_DECL const std::error_category& proxy_category() noexcept {
    static const detail::proxy_category_impl cat;
    return cat;
}

SLUICE_DECL std::error_code make_error_code(error e) noexcept {
    return std::error_code(static_cast<int>(e), proxy_category());
}

SLUICE_DECL bool valid_tlvs(std::string_view bytes) noexcept {
    while (!bytes.empty()) {
        if (bytes.size() < 3) return false;
        std::size_t n = static_cast<std::size_t>(static_cast<unsigned char>(bytes[1])) << 8 |
                        static_cast<unsigned char>(bytes[2]);
        if (n > bytes.size() - 3) return false;
        bytes.remove_prefix(3 + n);
    }
    return true;
}

SLUICE_DECL bool parse_ssl(std::string_view value, ssl_info& out) noexcept {
    if (value.size() < 5 || !valid_tlvs(value.substr(5))) return false;
    out.client = static_cast<std::uint8_t>(value[0]);
    out.verify = 0;
    for (std::size_t i = 1; i < 5; ++i)
        out.verify = out.verify << 8 | static_cast<unsigned char>(value[i]);
    out.sub = tlv_range(value.substr(5));
    return true;
}
} // namespace proxy
} // namespace sluice

namespace sluice {
namespace proxy {
namespace detail {

SLUICE_DECL std::uint32_t crc32c_update(std::uint32_t crc, const unsigned char* p,
                                        std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

SLUICE_DECL std::uint32_t crc32c(std::string_view s) noexcept {
    return ~crc32c_update(~0u, reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

SLUICE_DECL std::uint32_t crc32c_zeroed(std::string_view whole, std::size_t field) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(whole.data());
    const unsigned char zeros[4] = {0, 0, 0, 0};
    std::uint32_t crc = crc32c_update(~0u, p, field);
    crc = crc32c_update(crc, zeros, 4);
    crc = crc32c_update(crc, p + field + 4, whole.size() - field - 4);
    return ~crc;
}

SLUICE_DECL endpoint inet_endpoint(const std::uint8_t* addr, bool v6, std::uint16_t port) noexcept {
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

SLUICE_DECL std::string_view unix_path_view(std::string_view block) noexcept {
    if (!block.empty() && block[0] != '\0') return block.substr(0, block.find('\0'));
    while (!block.empty() && block.back() == '\0') block.remove_suffix(1);
    return block; // abstract: leading NUL kept; all NULs: unnamed, empty
}

SLUICE_DECL endpoint unix_endpoint(std::string_view path) noexcept {
#if SLUICE_HAS_UNIX_SOCKETS
    std::error_code ec;
    if (!path.empty()) return endpoint::unix_path(path, ec);
#else
    (void)path;
#endif
    return endpoint();
}

SLUICE_DECL parse_result fail(error e) noexcept {
    return parse_result{parse_status::error, 0, make_error_code(e)};
}

SLUICE_DECL parse_result parse_v1(std::string_view in, header& out) noexcept {
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

SLUICE_DECL parse_result parse_v2(std::string_view in, header& out, const limits& lim) noexcept {
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

SLUICE_DECL void put_u16(std::string& out, std::size_t v) {
    out += static_cast<char>((v >> 8) & 0xff);
    out += static_cast<char>(v & 0xff);
}
} // namespace detail
} // namespace proxy
} // namespace sluice

namespace sluice {
namespace proxy {

SLUICE_DECL parse_result parse(std::string_view in, header& out, const limits& lim) noexcept {
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

SLUICE_DECL void append_v1(std::string& out, const endpoint& source, const endpoint& destination) {
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

SLUICE_DECL void append_tlv(std::string& out, std::uint8_t type, std::string_view value) {
    out += static_cast<char>(type);
    detail::put_u16(out, value.size());
    out.append(value.data(), value.size());
}

SLUICE_DECL bool append_v2(std::string& out, command cmd, const endpoint& source,
                           const endpoint& destination, std::string_view tlvs, bool checksum) {
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
