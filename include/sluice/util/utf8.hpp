// sluice — incremental UTF-8 validation (RFC 3629).
//
// Why incremental: WebSocket text arrives in fragments and partial frame payloads, and RFC 6455
// wants the connection failed as soon as the bytes cannot be UTF-8. The validator keeps three
// bytes of state between calls and rejects a sequence at the first byte that cannot continue
// it (e.g. F4 90 fails at 90, ED A0 at A0), so an error is reported without waiting for more.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice {
namespace util {

class utf8_validator {
  public:
    // Validates the next bytes of the stream; returns false once the stream is invalid (sticky).
    bool feed(const void* data, std::size_t n) noexcept {
        if (SLUICE_UNLIKELY(bad_)) return false;
        const auto* p = static_cast<const std::uint8_t*>(data);
        const auto* const e = p + n;
        std::uint8_t need = need_, lo = lo_, hi = hi_;
        while (p != e) {
            if (need != 0) {
                const std::uint8_t b = *p++;
                if (SLUICE_UNLIKELY(b < lo || b > hi)) return fail();
                --need;
                lo = 0x80;
                hi = 0xBF;
                continue;
            }
            // ASCII fast path, 8 bytes at a time (memcpy keeps it alignment- and alias-safe).
            while (e - p >= 8) {
                std::uint64_t w;
                std::memcpy(&w, p, 8);
                if (w & 0x8080808080808080ull) break;
                p += 8;
            }
            if (p == e) break;
            const std::uint8_t b = *p++;
            if (b < 0x80) continue;
            if (b < 0xC2) return fail(); // stray continuation, or C0/C1 (always overlong)
            if (b < 0xE0) {
                need = 1;
            } else if (b < 0xF0) {
                need = 2;
                if (b == 0xE0)
                    lo = 0xA0; // overlong 3-byte form
                else if (b == 0xED)
                    hi = 0x9F; // UTF-16 surrogates
            } else if (b < 0xF5) {
                need = 3;
                if (b == 0xF0)
                    lo = 0x90; // overlong 4-byte form
                else if (b == 0xF4)
                    hi = 0x8F; // above U+10FFFF
            } else {
                return fail(); // F5..FF never appear
            }
        }
        need_ = need;
        lo_ = lo;
        hi_ = hi;
        return true;
    }

    bool feed(std::string_view s) noexcept { return feed(s.data(), s.size()); }

    // True when no error was seen and the bytes so far end on a code point boundary; a text
    // message is valid only if this holds at its end.
    bool complete() const noexcept { return !bad_ && need_ == 0; }
    bool failed() const noexcept { return bad_; }

    void reset() noexcept {
        need_ = 0;
        lo_ = 0x80;
        hi_ = 0xBF;
        bad_ = false;
    }

  private:
    bool fail() noexcept {
        bad_ = true;
        return false;
    }

    std::uint8_t need_ = 0;  // continuation bytes still expected
    std::uint8_t lo_ = 0x80; // allowed range of the next continuation byte
    std::uint8_t hi_ = 0xBF;
    bool bad_ = false;
};

SLUICE_DECL bool is_valid_utf8(const void* data, std::size_t n) noexcept;

inline bool is_valid_utf8(std::string_view s) noexcept { return is_valid_utf8(s.data(), s.size()); }

} // namespace util
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/util/impl/utf8.ipp>
#endif
