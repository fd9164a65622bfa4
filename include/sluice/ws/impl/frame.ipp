// sluice — out-of-line bodies of sluice/ws/frame.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/frame.hpp>

namespace sluice {
namespace ws {

SLUICE_DECL std::size_t write_header(std::uint8_t* out, const frame_header& h) noexcept {
    std::size_t i = 0;
    out[i++] = static_cast<std::uint8_t>((h.fin ? 0x80u : 0u) | (h.rsv & 0x70u) |
                                         static_cast<unsigned>(h.op));
    const std::uint8_t m = h.masked ? 0x80 : 0;
    if (h.length < 126) {
        out[i++] = static_cast<std::uint8_t>(m | h.length);
    } else if (h.length <= 0xFFFF) {
        out[i++] = static_cast<std::uint8_t>(m | 126);
        out[i++] = static_cast<std::uint8_t>(h.length >> 8);
        out[i++] = static_cast<std::uint8_t>(h.length);
    } else {
        out[i++] = static_cast<std::uint8_t>(m | 127);
        for (int s = 56; s >= 0; s -= 8) out[i++] = static_cast<std::uint8_t>(h.length >> s);
    }
    if (h.masked) {
        std::memcpy(out + i, h.mask, 4);
        i += 4;
    }
    return i;
}

SLUICE_DECL error check_header_prefix(std::uint8_t b0, std::uint8_t b1, role r,
                                      std::uint8_t allowed_rsv) noexcept {
    if (b0 & 0x70u & ~allowed_rsv) return error::reserved_bits;
    const unsigned op = b0 & 0x0Fu;
    if (!is_known_opcode(op)) return error::unknown_opcode;
    const bool masked = (b1 & 0x80u) != 0;
    if (r == role::server && !masked) return error::unmasked_frame;
    if (r == role::client && masked) return error::masked_frame;
    if (op & 8u) {
        if (!(b0 & 0x80u)) return error::fragmented_control;
        if ((b1 & 0x7Fu) > max_control_payload) return error::control_too_long;
    }
    return error{};
}

SLUICE_DECL parse_status parse_header(const std::uint8_t* p, std::size_t n, frame_header& h,
                                      std::size_t& header_len, error& err) noexcept {
    if (n < 2) return parse_status::incomplete;
    const std::size_t need = header_size_from_byte1(p[1]);
    if (n < need) return parse_status::incomplete;
    h.fin = (p[0] & 0x80u) != 0;
    h.rsv = static_cast<std::uint8_t>(p[0] & 0x70u);
    h.op = static_cast<opcode>(p[0] & 0x0Fu);
    h.masked = (p[1] & 0x80u) != 0;
    const unsigned len7 = p[1] & 0x7Fu;
    std::size_t i = 2;
    if (len7 < 126) {
        h.length = len7;
    } else if (len7 == 126) {
        h.length = (std::uint64_t{p[2]} << 8) | p[3];
        i = 4;
        if (h.length < 126) {
            err = error::non_minimal_length;
            return parse_status::invalid;
        }
    } else {
        std::uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v = (v << 8) | p[2 + k];
        i = 10;
        if (v >> 63) {
            err = error::length_msb_set;
            return parse_status::invalid;
        }
        if (v <= 0xFFFF) {
            err = error::non_minimal_length;
            return parse_status::invalid;
        }
        h.length = v;
    }
    if (h.masked) {
        std::memcpy(h.mask, p + i, 4);
        i += 4;
    } else {
        std::memset(h.mask, 0, 4);
    }
    header_len = i;
    return parse_status::complete;
}

SLUICE_DECL std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                                  const std::uint8_t key[4], std::size_t phase) noexcept {
    phase &= 3;
    // Bring dst to an 8-byte boundary so stores do not straddle cache lines.
    while (n != 0 && (reinterpret_cast<std::uintptr_t>(dst) & 7u) != 0) {
        *dst++ = static_cast<std::uint8_t>(*src++ ^ key[phase]);
        phase = (phase + 1) & 3;
        --n;
    }
    if (n >= 8) {
        const std::uint8_t k4[4] = {key[phase], key[(phase + 1) & 3], key[(phase + 2) & 3],
                                    key[(phase + 3) & 3]};
        std::uint8_t kb[16];
        std::memcpy(kb, k4, 4);
        std::memcpy(kb + 4, k4, 4);
        std::memcpy(kb + 8, kb, 8);
#if defined(__SSE2__)
        const __m128i k16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kb));
        for (; n >= 64; n -= 64, src += 64, dst += 64) {
            __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
            __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16));
            __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 32));
            __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 48));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_xor_si128(a, k16));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_xor_si128(b, k16));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 32), _mm_xor_si128(c, k16));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 48), _mm_xor_si128(d, k16));
        }
        for (; n >= 16; n -= 16, src += 16, dst += 16) {
            __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_xor_si128(a, k16));
        }
#endif
        std::uint64_t k8;
        std::memcpy(&k8, kb, 8);
        for (; n >= 32; n -= 32, src += 32, dst += 32) {
            std::uint64_t w[4];
            std::memcpy(w, src, 32);
            w[0] ^= k8;
            w[1] ^= k8;
            w[2] ^= k8;
            w[3] ^= k8;
            std::memcpy(dst, w, 32);
        }
        for (; n >= 8; n -= 8, src += 8, dst += 8) {
            std::uint64_t w;
            std::memcpy(&w, src, 8);
            w ^= k8;
            std::memcpy(dst, &w, 8);
        }
        // Multiples of 4 bytes were consumed, so phase is unchanged.
    }
    while (n != 0) {
        *dst++ = static_cast<std::uint8_t>(*src++ ^ key[phase]);
        phase = (phase + 1) & 3;
        --n;
    }
    return phase;
}

SLUICE_DECL std::size_t mask_inplace(std::uint8_t* data, std::size_t n, const std::uint8_t key[4],
                                     std::size_t phase) noexcept {
    return mask_copy(data, data, n, key, phase);
}

SLUICE_DECL std::size_t write_frame(std::uint8_t* out, const frame_header& h, const void* payload,
                                    std::size_t n) noexcept {
    std::size_t i = write_header(out, h);
    if (n != 0) {
        if (h.masked)
            mask_copy(out + i, static_cast<const std::uint8_t*>(payload), n, h.mask, 0);
        else
            std::memcpy(out + i, payload, n);
    }
    return i + n;
}
} // namespace ws
} // namespace sluice
