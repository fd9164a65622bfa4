// sluice — choosing a poller. `automatic` takes the best one compiled in, in order of
// performance: epoll, kqueue, poll, select (on Windows that is poll, meaning WSAPoll).
// An explicit choice that is not compiled in fails with error::backend_unavailable
// rather than silently using another. io_uring is the exception, because whether it
// works is up to the running kernel and its policy (a sysctl, a container's seccomp
// profile), not to the build: asked for and refused, the loop runs on epoll and `note`
// says why, so the same program runs everywhere and tells where it could not.
#pragma once

#include <sluice/backend/backend.hpp>

#include <memory>
#include <string>

namespace sluice::detail {

SLUICE_DECL std::unique_ptr<poller> make_poller(backend b, std::error_code& ec, std::string& note);

} // namespace sluice::detail

namespace sluice {
// Parses "epoll" / "kqueue" / "poll" / "select" / "io_uring" / "automatic"; false on
// anything else.
SLUICE_DECL bool parse_backend(const char* name, backend& out) noexcept;
} // namespace sluice

// The pollers themselves are needed only where make_poller() is compiled.
#if SLUICE_COMPILE_BODIES
#include <sluice/backend/impl/make_poller.ipp>
#endif
