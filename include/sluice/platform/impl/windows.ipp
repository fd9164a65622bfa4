// sluice — out-of-line bodies of sluice/platform/windows.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/platform/windows.hpp>

namespace sluice::platform {

#if defined(SLUICE_WINDOWS)

SLUICE_DECL std::string win32_message(int code) {
    char buf[512];
    DWORD n = ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                               static_cast<DWORD>(code), 0, buf, sizeof buf, nullptr);
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == ' ')) --n;
    if (n == 0) return "unknown Windows error " + std::to_string(code);
    return std::string(buf, n);
}
#endif
} // namespace sluice::platform

namespace sluice::platform {
namespace detail {

#if defined(SLUICE_WINDOWS)

SLUICE_DECL std::errc win32_to_errc(int code, bool& known) noexcept {
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
#endif
} // namespace detail
} // namespace sluice::platform

namespace sluice::platform {

#if defined(SLUICE_WINDOWS)

SLUICE_DECL const std::error_category& win32_category() noexcept {
    static const detail::win32_category_impl instance;
    return instance;
}

SLUICE_DECL std::error_code winsock_start() noexcept {
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
#endif
} // namespace sluice::platform
