// sluice — the socket primitives every layer above uses. This file and the backend
// files are the only ones that include OS headers. Each platform section below
// provides the same set of functions with the same conventions (the hot-path calls
// return bytes or a negated OS error code; the others return std::error_code), so
// loop/ and handles/ contain no OS calls of their own.
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
#elif defined(SLUICE_WINDOWS)
#include <sluice/platform/windows.hpp>
#include <cerrno>
#include <climits>
#else
#error "sluice: no platform layer for this system"
#endif

namespace sluice {

#if defined(SLUICE_POSIX)

using native_socket = int;
inline constexpr native_socket invalid_socket = -1;

namespace platform {

inline std::error_code last_error() noexcept { return {errno, std::system_category()}; }

SLUICE_DECL bool would_block(const std::error_code& ec) noexcept;

// Out of descriptors or kernel memory: a listener backs off instead of spinning.
SLUICE_DECL bool out_of_descriptors(const std::error_code& ec) noexcept;

// Sockets are created non-blocking and close-on-exec in one call where the OS can
// (no window where a fork+exec leaks them), and never raise SIGPIPE.
SLUICE_DECL native_socket open_socket(int family, int type, std::error_code& ec) noexcept;

SLUICE_DECL std::error_code make_nonblocking(native_socket s) noexcept;

#if defined(MSG_NOSIGNAL)
inline constexpr int send_flags = MSG_NOSIGNAL;
#else
inline constexpr int send_flags = 0; // SO_NOSIGPIPE was set at creation
#endif

// The hot path's calls below return bytes (>= 0) or -errno, so a successful read or
// write builds no std::error_code (whose default constructor is an out-of-line call
// into the C++ runtime for system_category()).
SLUICE_DECL const std::error_category& system_errors() noexcept;
inline bool would_block_errno(int e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }

SLUICE_DECL std::ptrdiff_t recv_raw(native_socket s, void* data, std::size_t size) noexcept;

// One buffer: send(), which the kernel handles with less work than sendmsg().
SLUICE_DECL std::ptrdiff_t send_raw(native_socket s, const void* data, std::size_t size) noexcept;

SLUICE_DECL void close_socket(native_socket s) noexcept;

SLUICE_DECL std::error_code set_option(native_socket s, int level, int name, int value) noexcept;

// A listener that may rebind its port right after a restart (connections of the
// previous process still in TIME_WAIT).
inline void allow_rebind(native_socket s) noexcept { set_option(s, SOL_SOCKET, SO_REUSEADDR, 1); }

SLUICE_DECL std::error_code pending_socket_error(native_socket s) noexcept;

SLUICE_DECL std::error_code bind_socket(native_socket s, const sockaddr* addr, socklen_t len) noexcept;

SLUICE_DECL std::error_code listen_socket(native_socket s, int backlog) noexcept;

// Starts a non-blocking connect: success means connected or in progress (the socket
// becomes writable when it is decided).
SLUICE_DECL std::error_code start_connect(native_socket s, const sockaddr* addr,
                                     socklen_t len) noexcept;

// A connect that completes at once (UDP: it only sets the default peer).
SLUICE_DECL std::error_code connect_now(native_socket s, const sockaddr* addr, socklen_t len) noexcept;

// Gathered send of up to `count` buffers; returns bytes sent (0 with ec set on error,
// ec would_block when the socket buffer is full). EINTR is retried here.
SLUICE_DECL std::size_t send_gather(native_socket s, const const_buffer* bufs, std::size_t count,
                               std::error_code& ec) noexcept;

// Returns bytes read; 0 with no error means the peer closed its side.
SLUICE_DECL std::size_t recv_some(native_socket s, void* data, std::size_t size,
                             std::error_code& ec) noexcept;

// One datagram to `to`, or to the connected peer when `to` is null.
SLUICE_DECL std::error_code send_datagram(native_socket s, const void* data, std::size_t size,
                                     const sockaddr* to, socklen_t to_len) noexcept;

// One datagram into `data`; returns its size (at most `size`). A datagram that did
// not fit is cut to `size` and reported with std::errc::message_size. `from_len` is
// in: the capacity of `from`, out: the sender's address length.
SLUICE_DECL std::size_t recv_datagram(native_socket s, void* data, std::size_t size, sockaddr* from,
                                 socklen_t* from_len, std::error_code& ec) noexcept;

SLUICE_DECL std::error_code shutdown_write(native_socket s) noexcept;

// The next close sends a reset instead of a FIN: a stream that failed must not look to
// its peer like one that ended (a close-delimited body would pass for complete).
SLUICE_DECL void reset_on_close(native_socket s) noexcept;

SLUICE_DECL native_socket accept_socket(native_socket listener, sockaddr_storage* peer, socklen_t* len,
                                   std::error_code& ec) noexcept;

// An fd the loop can make readable from any thread, or from a signal handler.
// Linux: one eventfd. Elsewhere: a non-blocking pipe.
class wakeup_fd {
  public:
    SLUICE_DECL std::error_code open() noexcept;
    SLUICE_DECL ~wakeup_fd();
    native_socket read_end() const noexcept { return rfd_; }
    // Async-signal-safe: one write(2), errno preserved.
    SLUICE_DECL void notify() const noexcept;
    SLUICE_DECL void drain() const noexcept;

  private:
    int rfd_ = -1;
    int wfd_ = -1;
};

} // namespace platform

#elif defined(SLUICE_WINDOWS)

// Windows: SOCKET handles, WSA error codes (platform::win32_category()), no SIGPIPE
// (send never raises a signal), no accept4 and no close-on-exec flags (handles are
// made non-inheritable instead, so a child process started with inheritance on does
// not keep our sockets open).
using native_socket = SOCKET;
inline constexpr native_socket invalid_socket = INVALID_SOCKET;

namespace platform {

inline const std::error_category& system_errors() noexcept { return win32_category(); }

inline std::error_code last_error() noexcept { return {::WSAGetLastError(), win32_category()}; }
// For the non-socket calls (SetConsoleCtrlHandler, SetHandleInformation).
SLUICE_DECL std::error_code last_win32_error() noexcept;

inline bool would_block_errno(int e) noexcept { return e == WSAEWOULDBLOCK; }

SLUICE_DECL bool would_block(const std::error_code& ec) noexcept;

SLUICE_DECL bool out_of_descriptors(const std::error_code& ec) noexcept;

// Winsock takes int lengths.
SLUICE_DECL int clamp_len(std::size_t n) noexcept;

SLUICE_DECL std::error_code make_nonblocking(native_socket s) noexcept;

SLUICE_DECL void close_socket(native_socket s) noexcept;

SLUICE_DECL void make_uninheritable(native_socket s) noexcept;

SLUICE_DECL std::error_code set_option(native_socket s, int level, int name, int value) noexcept;

// Nothing to do: Windows lets a listener rebind a port whose old connections are in
// TIME_WAIT without any option, and its SO_REUSEADDR means something else (a second
// live socket may bind the same port and steal connections).
inline void allow_rebind(native_socket) noexcept {}

SLUICE_DECL native_socket open_socket(int family, int type, std::error_code& ec) noexcept;

SLUICE_DECL std::ptrdiff_t recv_raw(native_socket s, void* data, std::size_t size) noexcept;

SLUICE_DECL std::ptrdiff_t send_raw(native_socket s, const void* data, std::size_t size) noexcept;

SLUICE_DECL std::error_code pending_socket_error(native_socket s) noexcept;

SLUICE_DECL std::error_code bind_socket(native_socket s, const sockaddr* addr, socklen_t len) noexcept;

SLUICE_DECL std::error_code listen_socket(native_socket s, int backlog) noexcept;

// A non-blocking connect in progress reports WSAEWOULDBLOCK (not EINPROGRESS).
SLUICE_DECL std::error_code start_connect(native_socket s, const sockaddr* addr,
                                     socklen_t len) noexcept;

SLUICE_DECL std::error_code connect_now(native_socket s, const sockaddr* addr, socklen_t len) noexcept;

SLUICE_DECL std::size_t send_gather(native_socket s, const const_buffer* bufs, std::size_t count,
                               std::error_code& ec) noexcept;

SLUICE_DECL std::size_t recv_some(native_socket s, void* data, std::size_t size,
                             std::error_code& ec) noexcept;

SLUICE_DECL std::error_code send_datagram(native_socket s, const void* data, std::size_t size,
                                     const sockaddr* to, socklen_t to_len) noexcept;

// Windows reports a datagram larger than the buffer as the error WSAEMSGSIZE, with
// the buffer filled and the rest dropped: the same outcome as POSIX's MSG_TRUNC.
SLUICE_DECL std::size_t recv_datagram(native_socket s, void* data, std::size_t size, sockaddr* from,
                                 socklen_t* from_len, std::error_code& ec) noexcept;

SLUICE_DECL std::error_code shutdown_write(native_socket s) noexcept;

// See the POSIX version: close with a reset.
SLUICE_DECL void reset_on_close(native_socket s) noexcept;

// No accept4: the accepted socket is made non-blocking and non-inheritable after.
SLUICE_DECL native_socket accept_socket(native_socket listener, sockaddr_storage* peer, socklen_t* len,
                                   std::error_code& ec) noexcept;

// Windows can only wait on sockets, so the wakeup is a connected loopback TCP pair:
// notify() sends a byte on one end, the loop watches the other. TCP rather than UDP
// because a dropped wakeup datagram would leave the loop asleep with work queued.
class wakeup_fd {
  public:
    SLUICE_DECL std::error_code open() noexcept;
    SLUICE_DECL ~wakeup_fd();
    native_socket read_end() const noexcept { return rfd_; }
    // Called from any thread (and from the console control handler's thread); the
    // caller's last-error values are preserved.
    SLUICE_DECL void notify() const noexcept;
    SLUICE_DECL void drain() const noexcept;

  private:
    // Listens on 127.0.0.1:0, connects, accepts, and checks that the accepted peer is
    // our own connecting socket (another local process could race us to the port).
    SLUICE_DECL std::error_code connect_pair(native_socket lst) noexcept;

    native_socket rfd_ = invalid_socket;
    native_socket wfd_ = invalid_socket;
};

} // namespace platform

#endif

} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/platform/impl/socket.ipp>
#endif
