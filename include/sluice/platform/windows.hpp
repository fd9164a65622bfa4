// sluice — the Windows headers, Winsock start-up and the error category for WSA and
// Win32 codes. Only platform/ and backend/ include this.
//
// Include order: <winsock2.h> must come before <windows.h>, which (without
// WIN32_LEAN_AND_MEAN) pulls in the old <winsock.h>. When the user's <windows.h> came
// first, MinGW copes (with a #warning we keep quiet); MSVC cannot, so it gets a clear
// #error instead of a page of redefinitions. WIN32_LEAN_AND_MEAN and NOMINMAX are
// left to the user: defining them here would trim the <windows.h> their own code
// includes later (its include guard is already set). sluice's code is written to
// compile under the min/max macros.
#pragma once

#include <sluice/config.hpp>

#if defined(SLUICE_WINDOWS)

#if defined(_WINSOCKAPI_) && !defined(_WINSOCK2API_)
#if defined(_MSC_VER) && !defined(__clang__)
// A non-lean <windows.h> came first, with the old <winsock.h>.
#error "sluice: include sluice (or <winsock2.h>) before <windows.h>, or use WIN32_LEAN_AND_MEAN"
#else
// MinGW's <winsock2.h> coexists with <winsock.h> but warns about the order; the
// warning is about the user's order and has no remedy here.
#undef _WINSOCKAPI_
#endif
#endif

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#if defined(_WIN32_WINNT) && _WIN32_WINNT < 0x0600
#error "sluice: needs _WIN32_WINNT >= 0x0600 (Windows Vista) for WSAPoll and inet_pton"
#endif

#include <string>
#include <system_error>

namespace sluice::platform {

// The text Windows has for a WSA or Win32 error code, without the trailing line break.
inline std::string win32_message(int code) {
    char buf[512];
    DWORD n = ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                               static_cast<DWORD>(code), 0, buf, sizeof buf, nullptr);
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == ' ')) --n;
    if (n == 0) return "unknown Windows error " + std::to_string(code);
    return std::string(buf, n);
}

namespace detail {
// Portable conditions for the codes a socket program meets, so that tests such as
// ec == std::errc::connection_refused read the same on Windows as on POSIX.
inline std::errc win32_to_errc(int code, bool& known) noexcept {
    known = true;
    switch (code) {
    case WSAEINTR:
        return std::errc::interrupted;
    case WSAEBADF:
    case WSA_INVALID_HANDLE:
        return std::errc::bad_file_descriptor;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return std::errc::permission_denied;
    case WSAEFAULT:
        return std::errc::bad_address;
    case WSAEINVAL:
    case WSA_INVALID_PARAMETER:
        return std::errc::invalid_argument;
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES:
        return std::errc::too_many_files_open;
    case WSAEWOULDBLOCK:
        return std::errc::operation_would_block;
    case WSAEINPROGRESS:
        return std::errc::operation_in_progress;
    case WSAEALREADY:
        return std::errc::connection_already_in_progress;
    case WSAENOTSOCK:
        return std::errc::not_a_socket;
    case WSAEDESTADDRREQ:
        return std::errc::destination_address_required;
    case WSAEMSGSIZE:
        return std::errc::message_size;
    case WSAEPROTOTYPE:
        return std::errc::wrong_protocol_type;
    case WSAENOPROTOOPT:
        return std::errc::no_protocol_option;
    case WSAEPROTONOSUPPORT:
        return std::errc::protocol_not_supported;
    case WSAESOCKTNOSUPPORT:
    case ERROR_NOT_SUPPORTED:
        return std::errc::not_supported;
    case WSAEOPNOTSUPP:
        return std::errc::operation_not_supported;
    case WSAEPFNOSUPPORT:
    case WSAEAFNOSUPPORT:
        return std::errc::address_family_not_supported;
    case WSAEADDRINUSE:
        return std::errc::address_in_use;
    case WSAEADDRNOTAVAIL:
        return std::errc::address_not_available;
    case WSAENETDOWN:
        return std::errc::network_down;
    case WSAENETUNREACH:
        return std::errc::network_unreachable;
    case WSAENETRESET:
        return std::errc::network_reset;
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
        return std::errc::connection_aborted;
    case WSAECONNRESET:
    case ERROR_NETNAME_DELETED:
        return std::errc::connection_reset;
    case WSAENOBUFS:
        return std::errc::no_buffer_space;
    case WSAEISCONN:
        return std::errc::already_connected;
    case WSAENOTCONN:
        return std::errc::not_connected;
    case WSAESHUTDOWN: // a send after shutdown(SD_SEND): EPIPE on POSIX
    case ERROR_BROKEN_PIPE:
        return std::errc::broken_pipe;
    case WSAETIMEDOUT:
    case ERROR_TIMEOUT:
    case WAIT_TIMEOUT:
        return std::errc::timed_out;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
        return std::errc::connection_refused;
    case WSAELOOP:
        return std::errc::too_many_symbolic_link_levels;
    case WSAENAMETOOLONG:
        return std::errc::filename_too_long;
    case WSAEHOSTDOWN:
    case WSAEHOSTUNREACH:
        return std::errc::host_unreachable;
    case WSAENOTEMPTY:
        return std::errc::directory_not_empty;
    case WSA_OPERATION_ABORTED:
    case WSAECANCELLED:
        return std::errc::operation_canceled;
    case WSA_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return std::errc::not_enough_memory;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
        return std::errc::no_such_file_or_directory;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
        return std::errc::file_exists;
    default:
        known = false;
        return std::errc::invalid_argument;
    }
}

class win32_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "win32"; }
    std::string message(int ev) const override { return win32_message(ev); }
    std::error_condition default_error_condition(int ev) const noexcept override {
        bool known = false;
        std::errc e = win32_to_errc(ev, known);
        if (known) return std::make_error_condition(e);
        return {ev, *this};
    }
    // MinGW's errno.h gives EAGAIN and EWOULDBLOCK different values, so the one
    // would-block code must match both conditions.
    bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
        if (ev == WSAEWOULDBLOCK && cond == std::errc::resource_unavailable_try_again) return true;
        return default_error_condition(ev) == cond;
    }
};
} // namespace detail

// The category of every WSA and Win32 code sluice reports on Windows (what
// system_category is for errno on POSIX).
inline const std::error_category& win32_category() noexcept {
    static const detail::win32_category_impl instance;
    return instance;
}

// Winsock must be started before the first socket or name lookup. Once per process,
// thread-safe (a function-local static). WSACleanup is never called: at exit the
// process's sockets go anyway, and static destructors of other objects (a loop held
// in a global) may still close sockets after ours would have run.
inline std::error_code winsock_start() noexcept {
    struct session {
        int rc;
        session() noexcept {
            WSADATA data;
            rc = ::WSAStartup(MAKEWORD(2, 2), &data);
        }
    };
    static const session s;
    return s.rc ? std::error_code(s.rc, win32_category()) : std::error_code();
}

} // namespace sluice::platform

#endif // SLUICE_WINDOWS
