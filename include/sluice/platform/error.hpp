// sluice — error codes. The library reports every failure as a std::error_code and
// never throws. OS errors keep the OS's value: errno in std::system_category() on
// POSIX, WSA/Win32 codes in platform::win32_category() on Windows (both compare equal
// to the portable std::errc conditions); conditions that are sluice's own live in
// sluice::error.
#pragma once

#include <sluice/config.hpp>

#include <string>
#include <system_error>

namespace sluice {

enum class error {
    operation_aborted = 1, // the handle was closed or the operation cancelled
    eof,                   // the peer closed its sending side
    write_queue_full,      // the write would exceed the stream's hard cap
    timed_out,             // an idle/read/write timeout expired
    backend_unavailable,   // the requested poller is not compiled in or failed to start
    fd_too_large,          // select(): descriptor >= FD_SETSIZE (Windows: > FD_SETSIZE sockets)
    not_open,              // the handle has no socket (never opened, or closed)
    already_open,          // the operation needs a fresh handle
    in_progress,           // an operation of the same kind is already pending
    resolve_failed,        // the name did not resolve to any address
    loop_gone,             // the handle outlived its loop
};

namespace detail {
class error_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::operation_aborted:
            return "operation aborted";
        case error::eof:
            return "end of stream";
        case error::write_queue_full:
            return "write queue is at its hard cap";
        case error::timed_out:
            return "timed out";
        case error::backend_unavailable:
            return "requested backend is not available";
        case error::fd_too_large:
#if defined(SLUICE_WINDOWS)
            return "select() already watches FD_SETSIZE sockets";
#else
            return "descriptor is too large for select() (FD_SETSIZE)";
#endif
        case error::not_open:
            return "handle is not open";
        case error::already_open:
            return "handle is already open";
        case error::in_progress:
            return "an operation of this kind is already pending";
        case error::resolve_failed:
            return "name did not resolve to any address";
        case error::loop_gone:
            return "the loop of this handle was destroyed";
        }
        return "unknown sluice error";
    }
    // Lets callers compare against portable conditions, e.g.
    // ec == std::errc::operation_canceled for an aborted operation.
    bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
        switch (static_cast<error>(ev)) {
        case error::operation_aborted:
            return cond == std::errc::operation_canceled;
        case error::timed_out:
            return cond == std::errc::timed_out;
        case error::write_queue_full:
            return cond == std::errc::no_buffer_space;
        default:
            return default_error_condition(ev) == cond;
        }
    }
};
} // namespace detail

SLUICE_DECL const std::error_category& error_category() noexcept;

SLUICE_DECL std::error_code make_error_code(error e) noexcept;

} // namespace sluice

template <>
struct std::is_error_code_enum<sluice::error> : std::true_type {};

#if SLUICE_COMPILE_BODIES
#include <sluice/platform/impl/error.ipp>
#endif
