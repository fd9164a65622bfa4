// sluice — pluggable random source for masking keys and handshake nonces.
// A plain function pointer + context (not std::function) so a codec stays small and a test can
// substitute a deterministic generator without allocation.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>

namespace sluice {
namespace ws {

// RFC 6455 §10.3 wants masking keys that are unpredictable to the application; std::random_device
// is the only portable unpredictable source in the standard library. One per thread, since it
// can be large (libstdc++: ~5 KiB) and is not thread-safe.
inline void default_random_fill(void*, std::uint8_t* out, std::size_t n) {
    thread_local std::random_device rd;
    while (n != 0) {
        const std::uint32_t v = static_cast<std::uint32_t>(rd());
        const std::size_t k = n < 4 ? n : 4;
        std::memcpy(out, &v, k);
        out += k;
        n -= k;
    }
}

struct random_source {
    using fill_fn = void (*)(void* ctx, std::uint8_t* out, std::size_t n);

    fill_fn fn = &default_random_fill;
    void* ctx = nullptr;

    void operator()(std::uint8_t* out, std::size_t n) const { fn(ctx, out, n); }

    // Wraps any callable `void(std::uint8_t*, std::size_t)`; f must outlive every user.
    template <class F>
    static random_source from(F& f) noexcept {
        random_source r;
        r.fn = [](void* c, std::uint8_t* out, std::size_t n) { (*static_cast<F*>(c))(out, n); };
        r.ctx = &f;
        return r;
    }
};

} // namespace ws
} // namespace sluice
