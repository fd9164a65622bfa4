// sluice — out-of-line bodies of sluice/backend/make_poller.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/backend/make_poller.hpp>

#include <sluice/backend/epoll.hpp>
#include <sluice/backend/io_uring.hpp>
#include <sluice/backend/kqueue.hpp>
#include <sluice/backend/poll.hpp>
#include <sluice/backend/select.hpp>
#include <sluice/backend/wsapoll.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

namespace sluice::detail {

SLUICE_DECL std::unique_ptr<poller> make_poller(backend b, std::error_code& ec, std::string& note) {
    ec.clear();
    note.clear();
#if SLUICE_HAS_IO_URING
    if (b == backend::io_uring) {
        std::unique_ptr<poller> p(new uring_poller(ec, note));
        if (!ec) return p;
        note += "; using epoll";
        ec.clear();
        b = backend::epoll;
    }
#endif
    if (b == backend::automatic) {
#if SLUICE_HAS_EPOLL
        b = backend::epoll;
#elif SLUICE_HAS_KQUEUE
        b = backend::kqueue;
#elif SLUICE_HAS_POLL
        b = backend::poll;
#else
        b = backend::select;
#endif
    }
    std::unique_ptr<poller> p;
    switch (b) {
#if SLUICE_HAS_EPOLL
    case backend::epoll:
        p.reset(new epoll_poller(ec));
        break;
#endif
#if SLUICE_HAS_KQUEUE
    case backend::kqueue:
        p.reset(new kqueue_poller(ec));
        break;
#endif
#if SLUICE_HAS_POLL && defined(SLUICE_WINDOWS)
    case backend::poll:
        p.reset(new wsapoll_poller());
        break;
#elif SLUICE_HAS_POLL
    case backend::poll:
        p.reset(new poll_poller());
        break;
#endif
#if SLUICE_HAS_SELECT
    case backend::select:
        p.reset(new select_poller());
        break;
#endif
    default:
        ec = make_error_code(error::backend_unavailable);
        return nullptr;
    }
    if (ec) p.reset();
    return p;
}

} // namespace sluice::detail

namespace sluice {
SLUICE_DECL bool parse_backend(const char* name, backend& out) noexcept {
    if (!name) return false;
    for (backend b : {backend::automatic, backend::epoll, backend::kqueue, backend::poll,
                      backend::select, backend::io_uring})
        if (std::strcmp(name, to_string(b)) == 0) {
            out = b;
            return true;
        }
    return false;
}
} // namespace sluice
