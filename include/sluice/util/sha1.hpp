// sluice — SHA-1 (RFC 3174), only for the WebSocket accept value.
// SHA-1 is broken for collision resistance; RFC 6455 uses it as a fixed transform, not for
// security.
#pragma once

#include <sluice/config.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice {
namespace util {

class sha1 {
  public:
    using digest = std::array<std::uint8_t, 20>;

    sha1() noexcept { reset(); }

    SLUICE_DECL void reset() noexcept;

    SLUICE_DECL void update(const void* data, std::size_t n) noexcept;

    void update(std::string_view s) noexcept { update(s.data(), s.size()); }

    // Pads per RFC 3174 §4 and returns the digest; the object must be reset() before reuse.
    SLUICE_DECL digest finish() noexcept;

    SLUICE_DECL static digest hash(const void* data, std::size_t n) noexcept;
    static digest hash(std::string_view s) noexcept { return hash(s.data(), s.size()); }

  private:
    static std::uint32_t rotl(std::uint32_t x, int r) noexcept {
        return (x << r) | (x >> (32 - r));
    }

    SLUICE_DECL void compress(const std::uint8_t* p) noexcept;

    std::uint32_t h_[5];
    std::uint64_t total_;
    std::size_t used_;
    std::uint8_t block_[64];
};

} // namespace util
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/util/impl/sha1.ipp>
#endif
