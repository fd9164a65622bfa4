// sluice — pluggable random source for masking keys and handshake nonces.
// A plain function pointer + context (not std::function) so a codec stays small and a test can
// substitute a deterministic generator without allocation.
#pragma once

#include <sluice/config.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#include <stdlib.h>
#elif defined(SLUICE_WINDOWS)
#include <stdlib.h>
#if defined(SLUICE_DECLARE_RAND_S)
extern "C" int __cdecl rand_s(unsigned int* value);
#endif
#elif defined(SLUICE_POSIX)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace sluice {
namespace ws {

namespace detail {
#if defined(SLUICE_POSIX) &&                                                                       \
    !(defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__))
// Where there is no system call for it (or it failed: an old kernel, seccomp).
inline std::size_t urandom_fill(std::uint8_t* out, std::size_t n) noexcept {
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return n;
    while (n != 0) {
        ssize_t r = ::read(fd, out, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        out += r;
        n -= static_cast<std::size_t>(r);
    }
    ::close(fd);
    return n;
}
#endif
} // namespace detail

// RFC 6455 §10.3 wants masking keys that are unpredictable to the application. A client masks
// every frame, so asking the kernel for 4 bytes each time would cost a system call per message:
// keys come from a per-thread pool refilled 512 bytes at a time from the OS generator
// (getrandom on Linux, arc4random_buf on the BSDs and macOS, rand_s on Windows, which needs no
// library beyond the C runtime, /dev/urandom elsewhere). With no working generator at all
// there is nothing safe to hand out, so the process stops (as std::random_device would).
inline void os_random_fill(std::uint8_t* out, std::size_t n) {
#if defined(__linux__)
#if defined(SYS_getrandom)
    while (n != 0) {
        const long r = ::syscall(SYS_getrandom, out, n, 0);
        if (r <= 0) break; // EINTR or an old kernel: fall through to /dev/urandom
        out += r;
        n -= static_cast<std::size_t>(r);
    }
#endif
    if (n != 0) n = detail::urandom_fill(out, n);
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
    ::arc4random_buf(out, n);
    n = 0;
#elif defined(SLUICE_WINDOWS)
    while (n != 0) {
        unsigned int v = 0;
        if (::rand_s(&v) != 0) break;
        const std::size_t k = n < sizeof v ? n : sizeof v;
        std::memcpy(out, &v, k);
        out += k;
        n -= k;
    }
#else
    n = detail::urandom_fill(out, n);
#endif
    if (n != 0) std::abort();
}

inline void default_random_fill(void*, std::uint8_t* out, std::size_t n) {
    struct pool {
        std::uint8_t bytes[512];
        std::size_t used = sizeof bytes;
    };
    thread_local pool p;
    while (n != 0) {
        if (p.used == sizeof p.bytes) {
            os_random_fill(p.bytes, sizeof p.bytes);
            p.used = 0;
        }
        std::size_t k = sizeof p.bytes - p.used;
        if (k > n) k = n;
        std::memcpy(out, p.bytes + p.used, k);
        std::memset(p.bytes + p.used, 0, k); // a key handed out is not kept
        p.used += k;
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
