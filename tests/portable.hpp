// Test-side portability: the few OS calls the tests make themselves, outside the
// library (blocking client sockets, a connected socket pair, a reset-on-close option,
// guard pages), written once for POSIX and for Windows (Winsock, Win32 memory API).
// The library already includes its OS socket headers; this adds only what it lacks.
#pragma once

#include <cerrno>

#include <sluice.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#endif

namespace test::portable {

#if defined(_WIN32)
using socket_t = SOCKET;
inline constexpr socket_t bad_socket = INVALID_SOCKET;
#else
using socket_t = int;
inline constexpr socket_t bad_socket = -1;
#endif

// Winsock needs WSAStartup before a process's first socket call; the library does it
// for its own sockets, but a test may open a raw one before any loop exists.
inline void net_init() {
#if defined(_WIN32)
    static const bool started = [] {
        WSADATA data;
        return ::WSAStartup(MAKEWORD(2, 2), &data) == 0;
    }();
    (void)started;
#endif
}

inline void close_socket(socket_t s) {
    if (s == bad_socket) return;
#if defined(_WIN32)
    ::closesocket(s);
#else
    ::close(s);
#endif
}

// One blocking send() that never raises SIGPIPE; bytes sent, or -1.
// Both retry EINTR, as blocking POSIX code must: besides signals, the kernel interrupts
// a blocking call of a thread that used an io_uring ring when that ring is torn down
// (docs/guide/loop.md), and a socket with SO_RCVTIMEO then fails with EINTR instead of
// restarting.
inline long send_some(socket_t s, const void* data, std::size_t size) {
#if defined(_WIN32)
    return ::send(s, static_cast<const char*>(data), static_cast<int>(size), 0);
#else
    long r;
#if defined(MSG_NOSIGNAL)
    while ((r = static_cast<long>(::send(s, data, size, MSG_NOSIGNAL))) < 0 && errno == EINTR) {
    }
#else
    while ((r = static_cast<long>(::send(s, data, size, 0))) < 0 && errno == EINTR) {
    }
#endif
    return r;
#endif
}

// One blocking recv(); bytes received, 0 at end of stream, or -1 (error or timeout).
inline long recv_some(socket_t s, void* data, std::size_t size) {
#if defined(_WIN32)
    return ::recv(s, static_cast<char*>(data), static_cast<int>(size), 0);
#else
    long r;
    while ((r = static_cast<long>(::recv(s, data, size, 0))) < 0 && errno == EINTR) {
    }
    return r;
#endif
}

// A blocking recv() gives up after `limit` (SO_RCVTIMEO: a timeval on POSIX, a DWORD
// of milliseconds on Windows).
inline bool set_recv_timeout(socket_t s, std::chrono::milliseconds limit) {
#if defined(_WIN32)
    DWORD ms = static_cast<DWORD>(limit.count());
    return ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&ms),
                        sizeof ms) == 0;
#else
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(limit.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>(limit.count() % 1000 * 1000);
    return ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0;
#endif
}

// The next close of `s` sends a reset instead of a FIN (SO_LINGER on, zero timeout).
inline bool reset_on_close(socket_t s) {
    linger lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    return ::setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg) ==
           0;
}

// A blocking TCP client connected to 127.0.0.1:port, or bad_socket.
inline socket_t connect_loopback(std::uint16_t port) {
    net_init();
    socket_t s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == bad_socket) return bad_socket;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        close_socket(s);
        return bad_socket;
    }
    return s;
}

// A connected pair of blocking stream sockets: socketpair(2) on POSIX; on Windows,
// which has no socketpair, the two ends of one loopback TCP connection.
inline bool socket_pair(socket_t (&sv)[2]) {
    sv[0] = sv[1] = bad_socket;
#if defined(_WIN32)
    net_init();
    socket_t l = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (l == bad_socket) return false;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof sa;
    if (::bind(l, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 && ::listen(l, 1) == 0 &&
        ::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
        sv[1] = connect_loopback(ntohs(sa.sin_port));
    if (sv[1] != bad_socket) sv[0] = ::accept(l, nullptr, nullptr);
    close_socket(l);
    if (sv[0] == bad_socket) {
        close_socket(sv[1]);
        sv[1] = bad_socket;
        return false;
    }
    return true;
#else
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return false;
    sv[0] = fds[0];
    sv[1] = fds[1];
    return true;
#endif
}

// Whole pages of read-write memory (mmap / VirtualAlloc), and a way to make some of
// them inaccessible, so a read past the end of a buffer faults instead of passing.
inline std::size_t page_size() {
#if defined(_WIN32)
    SYSTEM_INFO info;
    ::GetSystemInfo(&info);
    return info.dwPageSize;
#else
    return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
#endif
}

inline char* map_pages(std::size_t size) {
#if defined(_WIN32)
    return static_cast<char*>(
        ::VirtualAlloc(nullptr, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
#else
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
#endif
}

inline bool protect_no_access(char* at, std::size_t size) {
#if defined(_WIN32)
    DWORD old = 0;
    return ::VirtualProtect(at, size, PAGE_NOACCESS, &old) != 0;
#else
    return ::mprotect(at, size, PROT_NONE) == 0;
#endif
}

inline void unmap_pages(char* region, std::size_t size) {
#if defined(_WIN32)
    (void)size;
    ::VirtualFree(region, 0, MEM_RELEASE);
#else
    ::munmap(region, size);
#endif
}

} // namespace test::portable
