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
SLUICE_DECL std::string win32_message(int code);

namespace detail {
// Portable conditions for the codes a socket program meets, so that tests such as
// ec == std::errc::connection_refused read the same on Windows as on POSIX.
SLUICE_DECL std::errc win32_to_errc(int code, bool& known) noexcept;

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
SLUICE_DECL const std::error_category& win32_category() noexcept;

// Winsock must be started before the first socket or name lookup. Once per process,
// thread-safe (a function-local static). WSACleanup is never called: at exit the
// process's sockets go anyway, and static destructors of other objects (a loop held
// in a global) may still close sockets after ours would have run.
SLUICE_DECL std::error_code winsock_start() noexcept;

} // namespace sluice::platform

#endif // SLUICE_WINDOWS

#if SLUICE_COMPILE_BODIES
#include <sluice/platform/impl/windows.ipp>
#endif
