// sluice — out-of-line bodies of sluice/platform/socket.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/platform/socket.hpp>

namespace sluice {
namespace platform {

#if defined(SLUICE_POSIX)

SLUICE_DECL bool would_block(const std::error_code& ec) noexcept {
    return ec.category() == std::system_category() &&
           (ec.value() == EAGAIN || ec.value() == EWOULDBLOCK);
}

SLUICE_DECL bool out_of_descriptors(const std::error_code& ec) noexcept {
    if (ec.category() != std::system_category()) return false;
    int e = ec.value();
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

SLUICE_DECL native_socket open_socket(int family, int type, std::error_code& ec) noexcept {
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

SLUICE_DECL std::error_code make_nonblocking(native_socket s) noexcept {
    int fl = ::fcntl(s, F_GETFL, 0);
    if (fl < 0) return last_error();
    if (!(fl & O_NONBLOCK) && ::fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0) return last_error();
#if defined(SO_NOSIGPIPE)
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return {};
}

SLUICE_DECL const std::error_category& system_errors() noexcept {
    static const std::error_category& cat = std::system_category();
    return cat;
}

SLUICE_DECL std::ptrdiff_t recv_raw(native_socket s, void* data, std::size_t size) noexcept {
    for (;;) {
        ssize_t r = ::recv(s, data, size, 0);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

SLUICE_DECL std::ptrdiff_t send_raw(native_socket s, const void* data, std::size_t size) noexcept {
    for (;;) {
        ssize_t r = ::send(s, data, size, send_flags);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

SLUICE_DECL void close_socket(native_socket s) noexcept {
    if (s != invalid_socket)
        ::close(s); // no retry on EINTR: the fd is released either way on Linux
}

SLUICE_DECL std::error_code set_option(native_socket s, int level, int name, int value) noexcept {
    if (::setsockopt(s, level, name, &value, sizeof value) != 0) return last_error();
    return {};
}

SLUICE_DECL std::error_code pending_socket_error(native_socket s) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return last_error();
    return {err, std::system_category()};
}

SLUICE_DECL std::error_code bind_socket(native_socket s, const sockaddr* addr,
                                        socklen_t len) noexcept {
    if (::bind(s, addr, len) != 0) return last_error();
    return {};
}

SLUICE_DECL std::error_code listen_socket(native_socket s, int backlog) noexcept {
    if (::listen(s, backlog) != 0) return last_error();
    return {};
}

SLUICE_DECL std::error_code start_connect(native_socket s, const sockaddr* addr,
                                          socklen_t len) noexcept {
    if (::connect(s, addr, len) != 0 && errno != EINPROGRESS) return last_error();
    return {};
}

SLUICE_DECL std::error_code connect_now(native_socket s, const sockaddr* addr,
                                        socklen_t len) noexcept {
    if (::connect(s, addr, len) != 0) return last_error();
    return {};
}

SLUICE_DECL std::size_t send_gather(native_socket s, const const_buffer* bufs, std::size_t count,
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

SLUICE_DECL std::size_t recv_some(native_socket s, void* data, std::size_t size,
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

SLUICE_DECL std::error_code send_datagram(native_socket s, const void* data, std::size_t size,
                                          const sockaddr* to, socklen_t to_len) noexcept {
    for (;;) {
        ssize_t r = to ? ::sendto(s, data, size, send_flags, to, to_len)
                       : ::send(s, data, size, send_flags);
        if (r >= 0) return {};
        if (errno == EINTR) continue;
        return last_error();
    }
}

SLUICE_DECL std::size_t recv_datagram(native_socket s, void* data, std::size_t size, sockaddr* from,
                                      socklen_t* from_len, std::error_code& ec) noexcept {
    iovec iov{data, size};
    msghdr msg{};
    msg.msg_name = from;
    msg.msg_namelen = *from_len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t r;
    do r = ::recvmsg(s, &msg, 0);
    while (r < 0 && errno == EINTR);
    *from_len = msg.msg_namelen;
    if (r < 0) {
        ec = last_error();
        return 0;
    }
    if (msg.msg_flags & MSG_TRUNC)
        ec = std::make_error_code(std::errc::message_size);
    else
        ec.clear();
    return static_cast<std::size_t>(r);
}

SLUICE_DECL std::error_code shutdown_write(native_socket s) noexcept {
    if (::shutdown(s, SHUT_WR) != 0) return last_error();
    return {};
}

SLUICE_DECL void reset_on_close(native_socket s) noexcept {
    struct linger lg {};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    ::setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

SLUICE_DECL native_socket accept_socket(native_socket listener, sockaddr_storage* peer,
                                        socklen_t* len, std::error_code& ec) noexcept {
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

SLUICE_DECL std::error_code wakeup_fd::open() noexcept {
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

SLUICE_DECL wakeup_fd::~wakeup_fd() {
    if (rfd_ >= 0) ::close(rfd_);
    if (wfd_ >= 0 && wfd_ != rfd_) ::close(wfd_);
}

SLUICE_DECL void wakeup_fd::notify() const noexcept {
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

SLUICE_DECL void wakeup_fd::drain() const noexcept {
    char buf[64];
    while (::read(rfd_, buf, sizeof buf) > 0) {
    }
}
#endif
} // namespace platform
} // namespace sluice

namespace sluice {
namespace platform {

#if defined(SLUICE_POSIX)
#elif defined(SLUICE_WINDOWS)

SLUICE_DECL std::error_code last_win32_error() noexcept {
    return {static_cast<int>(::GetLastError()), win32_category()};
}

SLUICE_DECL bool would_block(const std::error_code& ec) noexcept {
    return ec.value() == WSAEWOULDBLOCK && ec.category() == win32_category();
}

SLUICE_DECL bool out_of_descriptors(const std::error_code& ec) noexcept {
    if (ec.category() != win32_category()) return false;
    return ec.value() == WSAEMFILE || ec.value() == WSAENOBUFS;
}

SLUICE_DECL int clamp_len(std::size_t n) noexcept {
    return n > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
}

SLUICE_DECL std::error_code make_nonblocking(native_socket s) noexcept {
    u_long on = 1;
    if (::ioctlsocket(s, FIONBIO, &on) != 0) return last_error();
    return {};
}

SLUICE_DECL void close_socket(native_socket s) noexcept {
    if (s != invalid_socket) ::closesocket(s);
}

SLUICE_DECL void make_uninheritable(native_socket s) noexcept {
    ::SetHandleInformation(reinterpret_cast<HANDLE>(s), HANDLE_FLAG_INHERIT, 0);
}

SLUICE_DECL std::error_code set_option(native_socket s, int level, int name, int value) noexcept {
    if (::setsockopt(s, level, name, reinterpret_cast<const char*>(&value), sizeof value) != 0)
        return last_error();
    return {};
}

SLUICE_DECL native_socket open_socket(int family, int type, std::error_code& ec) noexcept {
    if (auto e = winsock_start()) {
        ec = e;
        return invalid_socket;
    }
    // WSA_FLAG_OVERLAPPED keeps what socket() would give (the handle stays usable
    // with overlapped I/O by code that takes native_handle()).
    native_socket s =
        ::WSASocketW(family, type, 0, nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == invalid_socket && ::WSAGetLastError() == WSAEINVAL) {
        // Windows 7 before SP1 does not know the flag.
        s = ::WSASocketW(family, type, 0, nullptr, 0, WSA_FLAG_OVERLAPPED);
        if (s != invalid_socket) make_uninheritable(s);
    }
    if (s == invalid_socket) {
        ec = last_error();
        return invalid_socket;
    }
    if (auto e = make_nonblocking(s)) {
        ec = e;
        ::closesocket(s);
        return invalid_socket;
    }
    if (type == SOCK_DGRAM) {
        // Otherwise an ICMP port-unreachable for an earlier send_to() makes the next
        // receive on this (unconnected) socket fail with WSAECONNRESET; POSIX does not
        // report those on unconnected sockets.
#if defined(SIO_UDP_CONNRESET)
        const DWORD udp_connreset = SIO_UDP_CONNRESET;
#else
        const DWORD udp_connreset = _WSAIOW(IOC_VENDOR, 12);
#endif
        BOOL off = FALSE;
        DWORD out = 0;
        ::WSAIoctl(s, udp_connreset, &off, sizeof off, nullptr, 0, &out, nullptr, nullptr);
    }
    ec.clear();
    return s;
}

SLUICE_DECL std::ptrdiff_t recv_raw(native_socket s, void* data, std::size_t size) noexcept {
    int r = ::recv(s, static_cast<char*>(data), clamp_len(size), 0);
    if (r != SOCKET_ERROR) return r;
    return -static_cast<std::ptrdiff_t>(::WSAGetLastError());
}

SLUICE_DECL std::ptrdiff_t send_raw(native_socket s, const void* data, std::size_t size) noexcept {
    int r = ::send(s, static_cast<const char*>(data), clamp_len(size), 0);
    if (r != SOCKET_ERROR) return r;
    return -static_cast<std::ptrdiff_t>(::WSAGetLastError());
}

SLUICE_DECL std::error_code pending_socket_error(native_socket s) noexcept {
    int err = 0;
    int len = sizeof err;
    if (::getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len) != 0)
        return last_error();
    return {err, win32_category()};
}

SLUICE_DECL std::error_code bind_socket(native_socket s, const sockaddr* addr,
                                        socklen_t len) noexcept {
    if (::bind(s, addr, len) != 0) return last_error();
    return {};
}

SLUICE_DECL std::error_code listen_socket(native_socket s, int backlog) noexcept {
    if (::listen(s, backlog) != 0) return last_error();
    return {};
}

SLUICE_DECL std::error_code start_connect(native_socket s, const sockaddr* addr,
                                          socklen_t len) noexcept {
    if (::connect(s, addr, len) != 0 && ::WSAGetLastError() != WSAEWOULDBLOCK) return last_error();
    return {};
}

SLUICE_DECL std::error_code connect_now(native_socket s, const sockaddr* addr,
                                        socklen_t len) noexcept {
    if (::connect(s, addr, len) != 0) return last_error();
    return {};
}

SLUICE_DECL std::size_t send_gather(native_socket s, const const_buffer* bufs, std::size_t count,
                                    std::error_code& ec) noexcept {
    constexpr std::size_t max_bufs = 64;
    WSABUF wb[max_bufs];
    DWORD n = 0;
    for (std::size_t i = 0; i < count && i < max_bufs; ++i) {
        // WSABUF lengths are 32-bit: a larger buffer goes out in parts, and nothing
        // after it joins this call, so the order of bytes is kept.
        const bool whole = bufs[i].size <= 0xffffffffu;
        wb[n].buf = static_cast<CHAR*>(const_cast<void*>(bufs[i].data));
        wb[n].len = whole ? static_cast<ULONG>(bufs[i].size) : 0xffffffffu;
        ++n;
        if (!whole) break;
    }
    DWORD sent = 0;
    if (::WSASend(s, wb, n, &sent, 0, nullptr, nullptr) != 0) {
        ec = last_error();
        return 0;
    }
    ec.clear();
    return sent;
}

SLUICE_DECL std::size_t recv_some(native_socket s, void* data, std::size_t size,
                                  std::error_code& ec) noexcept {
    int r = ::recv(s, static_cast<char*>(data), clamp_len(size), 0);
    if (r == SOCKET_ERROR) {
        ec = last_error();
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(r);
}

SLUICE_DECL std::error_code send_datagram(native_socket s, const void* data, std::size_t size,
                                          const sockaddr* to, socklen_t to_len) noexcept {
    const char* p = static_cast<const char*>(data);
    int r = to ? ::sendto(s, p, clamp_len(size), 0, to, to_len) : ::send(s, p, clamp_len(size), 0);
    if (r == SOCKET_ERROR) return last_error();
    return {};
}

SLUICE_DECL std::size_t recv_datagram(native_socket s, void* data, std::size_t size, sockaddr* from,
                                      socklen_t* from_len, std::error_code& ec) noexcept {
    int cap = clamp_len(size);
    int r = ::recvfrom(s, static_cast<char*>(data), cap, 0, from, from_len);
    if (r != SOCKET_ERROR) {
        ec.clear();
        return static_cast<std::size_t>(r);
    }
    int e = ::WSAGetLastError();
    if (e == WSAEMSGSIZE) {
        ec = std::make_error_code(std::errc::message_size);
        return static_cast<std::size_t>(cap);
    }
    ec.assign(e, win32_category());
    return 0;
}

SLUICE_DECL std::error_code shutdown_write(native_socket s) noexcept {
    if (::shutdown(s, SD_SEND) != 0) return last_error();
    return {};
}

SLUICE_DECL void reset_on_close(native_socket s) noexcept {
    LINGER lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    ::setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
}

SLUICE_DECL native_socket accept_socket(native_socket listener, sockaddr_storage* peer,
                                        socklen_t* len, std::error_code& ec) noexcept {
    native_socket s = ::accept(listener, reinterpret_cast<sockaddr*>(peer), len);
    if (s == invalid_socket) {
        ec = last_error();
        return invalid_socket;
    }
    make_uninheritable(s);
    if (auto e = make_nonblocking(s)) {
        ec = e;
        ::closesocket(s);
        return invalid_socket;
    }
    ec.clear();
    return s;
}

SLUICE_DECL std::error_code wakeup_fd::open() noexcept {
    std::error_code ec;
    native_socket lst = open_socket(AF_INET, SOCK_STREAM, ec);
    if (ec) return ec;
    ec = connect_pair(lst);
    close_socket(lst);
    if (ec) {
        close_socket(rfd_);
        close_socket(wfd_);
        rfd_ = wfd_ = invalid_socket;
    }
    return ec;
}

SLUICE_DECL wakeup_fd::~wakeup_fd() {
    close_socket(rfd_);
    close_socket(wfd_);
}

SLUICE_DECL void wakeup_fd::notify() const noexcept {
    int saved_wsa = ::WSAGetLastError();
    int saved_errno = errno;
    char one = 1;
    ::send(wfd_, &one, 1, 0); // WSAEWOULDBLOCK: bytes already wait, the loop wakes
    errno = saved_errno;
    ::WSASetLastError(saved_wsa);
}

SLUICE_DECL void wakeup_fd::drain() const noexcept {
    char buf[64];
    while (::recv(rfd_, buf, sizeof buf, 0) > 0) {
    }
}

SLUICE_DECL std::error_code wakeup_fd::connect_pair(native_socket lst) noexcept {
    std::error_code ec;
    set_option(lst, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof addr;
    if (::bind(lst, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(lst, 1) != 0 ||
        ::getsockname(lst, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return last_error();
    wfd_ = open_socket(AF_INET, SOCK_STREAM, ec);
    if (ec) return ec;
    if (::connect(wfd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 &&
        ::WSAGetLastError() != WSAEWOULDBLOCK)
        return last_error();
    sockaddr_in mine{};
    int mine_len = sizeof mine;
    if (::getsockname(wfd_, reinterpret_cast<sockaddr*>(&mine), &mine_len) != 0)
        return last_error();
    // The listener is non-blocking: wait (bounded) for the connection to arrive.
    for (int attempt = 0; attempt < 100; ++attempt) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(lst, &r);
        timeval tv{0, 50000};
        if (::select(0, &r, nullptr, nullptr, &tv) == SOCKET_ERROR) return last_error();
        if (!FD_ISSET(lst, &r)) continue;
        sockaddr_in peer{};
        int peer_len = sizeof peer;
        native_socket s = ::accept(lst, reinterpret_cast<sockaddr*>(&peer), &peer_len);
        if (s == invalid_socket) {
            if (::WSAGetLastError() == WSAEWOULDBLOCK) continue;
            return last_error();
        }
        if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr) {
            ::closesocket(s); // not ours
            continue;
        }
        make_uninheritable(s);
        if ((ec = make_nonblocking(s))) {
            ::closesocket(s);
            return ec;
        }
        rfd_ = s;
        // A one-byte send must not wait for the ack of the previous one (Nagle).
        set_option(wfd_, IPPROTO_TCP, TCP_NODELAY, 1);
        // Our side of the connect is decided by now on loopback; make sure before
        // the first notify() relies on it.
        fd_set w;
        FD_ZERO(&w);
        FD_SET(wfd_, &w);
        timeval wait_tv{5, 0};
        int ready = ::select(0, nullptr, &w, nullptr, &wait_tv);
        if (ready == SOCKET_ERROR) return last_error();
        if (ready == 0) return std::make_error_code(std::errc::timed_out);
        return pending_socket_error(wfd_);
    }
    return std::make_error_code(std::errc::timed_out);
}
#endif
} // namespace platform
} // namespace sluice
