// sluice — base64 (RFC 4648 §4), standard alphabet with padding.
// Decoding is strict on purpose: the handshake must reject a Sec-WebSocket-Key that is not a
// canonical encoding of 16 bytes, so anything an encoder would not produce is an error.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {
namespace util {

inline constexpr char base64_alphabet[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

namespace detail {
// 0..63 for alphabet characters, 0xFF for everything else (including '=').
struct base64_table {
    std::uint8_t v[256];
    constexpr base64_table() : v{} {
        for (int i = 0; i < 256; ++i) v[i] = 0xFF;
        for (int i = 0; i < 64; ++i)
            v[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<std::uint8_t>(i);
    }
};
inline constexpr base64_table base64_decode_table{};
} // namespace detail

inline constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

// Writes exactly base64_encoded_size(n) characters to out.
SLUICE_DECL void base64_encode(const void* data, std::size_t n, char* out) noexcept;

SLUICE_DECL std::string base64_encode(const void* data, std::size_t n);

inline std::string base64_encode(std::string_view s) { return base64_encode(s.data(), s.size()); }

// Upper bound on the decoded size; the exact size is returned by base64_decode.
inline constexpr std::size_t base64_decoded_max(std::size_t n) noexcept { return n / 4 * 3; }

// Strict decode: length a multiple of 4, only alphabet characters, '=' only as the last one or
// two characters, and the unused bits before the padding zero. Returns false on any violation
// (out_len is then unspecified). `out` must hold base64_decoded_max(in.size()) bytes.
SLUICE_DECL bool base64_decode(std::string_view in, std::uint8_t* out,
                               std::size_t& out_len) noexcept;

// Convenience form; returns false (and leaves out empty) on invalid input.
SLUICE_DECL bool base64_decode(std::string_view in, std::string& out);

} // namespace util
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/util/impl/base64.ipp>
#endif
