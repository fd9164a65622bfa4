// sluice — out-of-line bodies of sluice/util/base64.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/util/base64.hpp>

namespace sluice {
namespace util {

SLUICE_DECL void base64_encode(const void* data, std::size_t n, char* out) noexcept {
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (; n >= 3; n -= 3, p += 3, out += 4) {
        std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
        out[0] = base64_alphabet[(v >> 18) & 63];
        out[1] = base64_alphabet[(v >> 12) & 63];
        out[2] = base64_alphabet[(v >> 6) & 63];
        out[3] = base64_alphabet[v & 63];
    }
    if (n == 1) {
        out[0] = base64_alphabet[p[0] >> 2];
        out[1] = base64_alphabet[(p[0] & 3) << 4];
        out[2] = '=';
        out[3] = '=';
    } else if (n == 2) {
        std::uint32_t v = (std::uint32_t{p[0]} << 8) | p[1];
        out[0] = base64_alphabet[(v >> 10) & 63];
        out[1] = base64_alphabet[(v >> 4) & 63];
        out[2] = base64_alphabet[(v << 2) & 63];
        out[3] = '=';
    }
}

SLUICE_DECL std::string base64_encode(const void* data, std::size_t n) {
    std::string s(base64_encoded_size(n), '\0');
    base64_encode(data, n, &s[0]);
    return s;
}

SLUICE_DECL bool base64_decode(std::string_view in, std::uint8_t* out,
                               std::size_t& out_len) noexcept {
    const auto& t = detail::base64_decode_table.v;
    out_len = 0;
    if (in.size() % 4 != 0) return false;
    std::size_t n = in.size();
    std::size_t pad = 0;
    if (n != 0 && in[n - 1] == '=') pad = (in[n - 2] == '=') ? 2 : 1;
    const std::size_t full = (pad == 0) ? n : n - 4; // characters in unpadded quads
    std::size_t o = 0;
    for (std::size_t i = 0; i < full; i += 4) {
        std::uint8_t a = t[static_cast<unsigned char>(in[i])];
        std::uint8_t b = t[static_cast<unsigned char>(in[i + 1])];
        std::uint8_t c = t[static_cast<unsigned char>(in[i + 2])];
        std::uint8_t d = t[static_cast<unsigned char>(in[i + 3])];
        if ((a | b | c | d) == 0xFF) return false;
        std::uint32_t v =
            (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) | (std::uint32_t{c} << 6) | d;
        out[o++] = static_cast<std::uint8_t>(v >> 16);
        out[o++] = static_cast<std::uint8_t>(v >> 8);
        out[o++] = static_cast<std::uint8_t>(v);
    }
    if (pad != 0) {
        std::uint8_t a = t[static_cast<unsigned char>(in[full])];
        std::uint8_t b = t[static_cast<unsigned char>(in[full + 1])];
        if ((a | b) == 0xFF) return false;
        if (pad == 2) {
            if ((b & 0x0F) != 0) return false; // non-canonical trailing bits
            out[o++] = static_cast<std::uint8_t>((a << 2) | (b >> 4));
        } else {
            std::uint8_t c = t[static_cast<unsigned char>(in[full + 2])];
            if (c == 0xFF || (c & 0x03) != 0) return false;
            out[o++] = static_cast<std::uint8_t>((a << 2) | (b >> 4));
            out[o++] = static_cast<std::uint8_t>((b << 4) | (c >> 2));
        }
    }
    out_len = o;
    return true;
}

SLUICE_DECL bool base64_decode(std::string_view in, std::string& out) {
    out.assign(base64_decoded_max(in.size()), '\0');
    std::size_t len = 0;
    if (!base64_decode(in, reinterpret_cast<std::uint8_t*>(&out[0]), len)) {
        out.clear();
        return false;
    }
    out.resize(len);
    return true;
}
} // namespace util
} // namespace sluice
