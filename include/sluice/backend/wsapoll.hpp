// sluice — WSAPoll backend, the default on Windows, where backend::poll means this
// one (so `--backend poll` and parse_backend("poll") pick it). Same shape as the
// poll(2) backend: a dense WSAPOLLFD array, the socket -> slot index, swap-removal.
//
// Differences from poll(2) worth knowing:
//  - only POLLRDNORM / POLLWRNORM are asked for: WSAPoll fails the whole call with
//    WSAEINVAL for flags a socket type does not support (POLLPRI, POLLRDBAND);
//  - the timeout is in milliseconds (rounded up here, so a timer never fires early)
//    and the wait itself is as coarse as the system timer (often 15.6 ms);
//  - with no socket at all WSAPoll fails, so an empty set sleeps instead;
//  - Windows before 10 version 2004 never reports a refused non-blocking connect to
//    WSAPoll: such a connect only completes through its timeout there. The select
//    backend (exceptfds) does not have that problem.
#pragma once

#include <sluice/backend/backend.hpp>
#include <sluice/backend/socket_index.hpp>

#if SLUICE_HAS_POLL && defined(SLUICE_WINDOWS)
#include <vector>

namespace sluice::detail {

class wsapoll_poller final : public poller {
  public:
    std::error_code set(native_socket fd, unsigned, unsigned new_mask,
                        void* user) noexcept override {
        if (fd == invalid_socket) return std::make_error_code(std::errc::bad_file_descriptor);
        int slot = index_.find(fd);
        if (new_mask == 0) {
            if (slot < 0) return {};
            auto last = static_cast<int>(fds_.size()) - 1;
            if (slot != last) {
                fds_[static_cast<std::size_t>(slot)] = fds_.back();
                users_[static_cast<std::size_t>(slot)] = users_.back();
                index_.put(fds_[static_cast<std::size_t>(slot)].fd, slot);
            }
            fds_.pop_back();
            users_.pop_back();
            index_.erase(fd);
            return {};
        }
        SHORT events = static_cast<SHORT>(((new_mask & ev_read) ? POLLRDNORM : 0) |
                                          ((new_mask & ev_write) ? POLLWRNORM : 0));
        if (slot < 0) {
            index_.put(fd, static_cast<int>(fds_.size()));
            WSAPOLLFD p{};
            p.fd = fd;
            p.events = events;
            fds_.push_back(p);
            users_.push_back(user);
        } else {
            fds_[static_cast<std::size_t>(slot)].events = events;
            users_[static_cast<std::size_t>(slot)] = user;
        }
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        int ms = timeout_ms_ceil(timeout_us);
        if (fds_.empty()) {
            ::Sleep(ms < 0 ? INFINITE : static_cast<DWORD>(ms));
            return 0;
        }
        int n = ::WSAPoll(fds_.data(), static_cast<ULONG>(fds_.size()), ms);
        if (n == SOCKET_ERROR) {
            // No EINTR in Winsock here; every failure ends run() (see poller::wait).
            ec = platform::last_error();
            return 0;
        }
        return collect_ready(fds_, users_, n, out, capacity, start_,
                             POLLRDNORM | POLLHUP | POLLERR | POLLNVAL,
                             POLLWRNORM | POLLHUP | POLLERR | POLLNVAL);
    }

    backend kind() const noexcept override { return backend::poll; }

  private:
    std::vector<WSAPOLLFD> fds_;
    std::vector<void*> users_;
    socket_index index_;
    std::size_t start_ = 0;
};

} // namespace sluice::detail
#endif
