// sluice — the socket primitives every layer above uses. This file and the backend
// files are the only ones that include OS headers, so porting to a new platform
// (Windows: SOCKET handles, WSAPoll, WSA error codes) means adding a sibling of the
// POSIX section below without touching loop/ or handles/.
#pragma once

#include <sluice/config.hpp>
#include <sluice/platform/error.hpp>
#include <sluice/util/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>

#if defined(SLUICE_POSIX)
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif
#else
#error "sluice: this platform layer is POSIX-only for now (Windows support is tracked separately)"
#endif

namespace sluice {

using native_socket = int;
inline constexpr native_socket invalid_socket = -1;

namespace platform {

inline std::error_code last_error() noexcept { return {errno, std::system_category()}; }

inline bool would_block(const std::error_code& ec) noexcept {
    return ec.category() == std::system_category() &&
           (ec.value() == EAGAIN || ec.value() == EWOULDBLOCK);
}

// Sockets are created non-blocking and close-on-exec in one call where the OS can
// (no window where a fork+exec leaks them), and never raise SIGPIPE.
inline native_socket open_socket(int family, int type, std::error_code& ec) noexcept {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    native_socket s = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        ec = last_error();
        return invalid_socket;
    }
#else
    native_socket s = ::socket(family, type, 0);
    if (s < 0) {
        ec = last_error();
        return invalid_socket;
    }
    int fl = ::fcntl(s, F_GETFL, 0);
    if (fl < 0 || ::fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0 || ::fcntl(s, F_SETFD, FD_CLOEXEC) < 0) {
        ec = last_error();
        ::close(s);
        return invalid_socket;
    }
#endif
#if defined(SO_NOSIGPIPE)
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    ec.clear();
    return s;
}

inline std::error_code make_nonblocking(native_socket s) noexcept {
    int fl = ::fcntl(s, F_GETFL, 0);
    if (fl < 0) return last_error();
    if (!(fl & O_NONBLOCK) && ::fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0) return last_error();
#if defined(SO_NOSIGPIPE)
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return {};
}

#if defined(MSG_NOSIGNAL)
inline constexpr int send_flags = MSG_NOSIGNAL;
#else
inline constexpr int send_flags = 0; // SO_NOSIGPIPE was set at creation
#endif

// The hot path's calls below return bytes (>= 0) or -errno, so a successful read or
// write builds no std::error_code (whose default constructor is an out-of-line call
// into the C++ runtime for system_category()).
inline const std::error_category& system_errors() noexcept {
    static const std::error_category& cat = std::system_category();
    return cat;
}
inline bool would_block_errno(int e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }

inline std::ptrdiff_t recv_raw(native_socket s, void* data, std::size_t size) noexcept {
    for (;;) {
        ssize_t r = ::recv(s, data, size, 0);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

// One buffer: send(), which the kernel handles with less work than sendmsg().
inline std::ptrdiff_t send_raw(native_socket s, const void* data, std::size_t size) noexcept {
    for (;;) {
        ssize_t r = ::send(s, data, size, send_flags);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

inline void close_socket(native_socket s) noexcept {
    if (s != invalid_socket)
        ::close(s); // no retry on EINTR: the fd is released either way on Linux
}

inline std::error_code set_option(native_socket s, int level, int name, int value) noexcept {
    if (::setsockopt(s, level, name, &value, sizeof value) != 0) return last_error();
    return {};
}

inline std::error_code pending_socket_error(native_socket s) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return last_error();
    return {err, std::system_category()};
}

// Gathered send of up to `count` buffers; returns bytes sent (0 with ec set on error,
// ec would_block when the socket buffer is full). EINTR is retried here.
inline std::size_t send_gather(native_socket s, const const_buffer* bufs, std::size_t count,
                               std::error_code& ec) noexcept {
    constexpr std::size_t max_iov = 64;
    iovec iov[max_iov];
    std::size_t n = count < max_iov ? count : max_iov;
    for (std::size_t i = 0; i < n; ++i) {
        iov[i].iov_base = const_cast<void*>(bufs[i].data);
        iov[i].iov_len = bufs[i].size;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(n);
    for (;;) {
        ssize_t r = ::sendmsg(s, &msg, send_flags);
        if (r >= 0) {
            ec.clear();
            return static_cast<std::size_t>(r);
        }
        if (errno == EINTR) continue;
        ec = last_error();
        return 0;
    }
}

// Returns bytes read; 0 with no error means the peer closed its side.
inline std::size_t recv_some(native_socket s, void* data, std::size_t size,
                             std::error_code& ec) noexcept {
    for (;;) {
        ssize_t r = ::recv(s, data, size, 0);
        if (r >= 0) {
            ec.clear();
            return static_cast<std::size_t>(r);
        }
        if (errno == EINTR) continue;
        ec = last_error();
        return 0;
    }
}

inline std::error_code shutdown_write(native_socket s) noexcept {
    if (::shutdown(s, SHUT_WR) != 0) return last_error();
    return {};
}

inline native_socket accept_socket(native_socket listener, sockaddr_storage* peer, socklen_t* len,
                                   std::error_code& ec) noexcept {
    for (;;) {
#if defined(__linux__)
        native_socket s = ::accept4(listener, reinterpret_cast<sockaddr*>(peer), len,
                                    SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        native_socket s = ::accept(listener, reinterpret_cast<sockaddr*>(peer), len);
        if (s >= 0) {
            int fl = ::fcntl(s, F_GETFL, 0);
            ::fcntl(s, F_SETFL, fl | O_NONBLOCK);
            ::fcntl(s, F_SETFD, FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
            int one = 1;
            ::setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
        }
#endif
        if (s >= 0) {
            ec.clear();
            return s;
        }
        if (errno == EINTR) continue;
        ec = last_error();
        return invalid_socket;
    }
}

// An fd the loop can make readable from any thread, or from a signal handler.
// Linux: one eventfd. Elsewhere: a non-blocking pipe.
class wakeup_fd {
  public:
    std::error_code open() noexcept {
#if defined(__linux__)
        rfd_ = wfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (rfd_ < 0) return last_error();
#else
        int p[2];
        if (::pipe(p) != 0) return last_error();
        for (int fd : p) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        rfd_ = p[0];
        wfd_ = p[1];
#endif
        return {};
    }
    ~wakeup_fd() {
        if (rfd_ >= 0) ::close(rfd_);
        if (wfd_ >= 0 && wfd_ != rfd_) ::close(wfd_);
    }
    native_socket read_end() const noexcept { return rfd_; }
    // Async-signal-safe: one write(2), errno preserved.
    void notify() const noexcept {
        int saved = errno;
#if defined(__linux__)
        std::uint64_t one = 1;
        ssize_t r = ::write(wfd_, &one, sizeof one);
#else
        char one = 1;
        ssize_t r = ::write(wfd_, &one, 1);
#endif
        (void)r; // a full pipe or counter already means "wake up"
        errno = saved;
    }
    void drain() const noexcept {
        char buf[64];
        while (::read(rfd_, buf, sizeof buf) > 0) {
        }
    }

  private:
    int rfd_ = -1;
    int wfd_ = -1;
};

} // namespace platform
} // namespace sluice
