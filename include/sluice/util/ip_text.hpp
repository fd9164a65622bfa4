// sluice — strict textual IP addresses and ports, for protocols that carry them as text
// (the PROXY protocol's v1 line, X-Forwarded-For, Forwarded).
//
// inet_pton() is not used: it needs a NUL-terminated copy, its accepted forms differ
// between systems, and glibc's takes leading zeros ("010.1.1.1") that other parsers
// read as octal — two hops disagreeing about an address is how spoofing starts.
// Accepted here: IPv4 as exactly four decimal numbers 0-255 without leading zeros;
// IPv6 as in RFC 4291 §2.2 (1-4 hex digits a group, at most one "::", an optional
// dotted-quad tail); ports as decimal 0-65535.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice {
namespace detail {

inline bool is_ascii_digit(char c) noexcept { return c >= '0' && c <= '9'; }

inline int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

inline bool parse_ipv4_text(std::string_view s, std::uint8_t (&out)[4]) noexcept {
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
        std::size_t start = i;
        unsigned v = 0;
        while (i < s.size() && is_ascii_digit(s[i]) && i - start < 3)
            v = v * 10 + static_cast<unsigned>(s[i++] - '0');
        const std::size_t digits = i - start;
        if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0')) return false;
        if (i < s.size() && is_ascii_digit(s[i])) return false; // a fourth digit
        out[part] = static_cast<std::uint8_t>(v);
    }
    return i == s.size();
}

inline bool parse_ipv6_text(std::string_view s, std::uint8_t (&out)[16]) noexcept {
    std::uint16_t groups[8] = {};
    int n = 0;
    int gap = -1; // index of the group where "::" stands
    std::size_t i = 0;
    if (s.size() < 2) return false;
    if (s[0] == ':') {
        if (s[1] != ':') return false;
        gap = 0;
        i = 2;
    }
    while (i < s.size()) {
        if (n == 8) return false;
        std::size_t j = i;
        unsigned v = 0;
        while (j < s.size() && j - i < 5 && hex_digit_value(s[j]) >= 0)
            v = v * 16 + static_cast<unsigned>(hex_digit_value(s[j++]));
        if (j == i) return false;
        if (j < s.size() && s[j] == '.') { // the last 32 bits as a dotted quad
            std::uint8_t v4[4];
            if (n > 6 || !parse_ipv4_text(s.substr(i), v4)) return false;
            groups[n++] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
            groups[n++] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
            i = s.size();
            break;
        }
        if (j - i > 4) return false;
        groups[n++] = static_cast<std::uint16_t>(v);
        i = j;
        if (i == s.size()) break;
        if (s[i] != ':') return false;
        if (++i == s.size()) return false; // a trailing single colon
        if (s[i] == ':') {
            if (gap >= 0) return false;
            gap = n;
            ++i;
        }
    }
    if (gap < 0 ? n != 8 : n > 7) return false;
    const int zeros = 8 - n;
    for (int k = 0, g = 0; k < 8; ++k) {
        std::uint16_t v = 0;
        if (gap < 0 || k < gap || k >= gap + zeros) v = groups[g++];
        out[2 * k] = static_cast<std::uint8_t>(v >> 8);
        out[2 * k + 1] = static_cast<std::uint8_t>(v & 0xff);
    }
    return true;
}

// Decimal 0-65535. Leading zeros are refused unless the grammar in use allows them.
inline bool parse_port_text(std::string_view s, std::uint16_t& out,
                            bool allow_leading_zeros = false) noexcept {
    if (s.empty() || s.size() > 5) return false;
    if (!allow_leading_zeros && s.size() > 1 && s[0] == '0') return false;
    std::uint32_t v = 0;
    for (char c : s) {
        if (!is_ascii_digit(c)) return false;
        v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (v > 65535) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

} // namespace detail
} // namespace sluice
