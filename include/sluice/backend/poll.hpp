// sluice — poll(2) backend (POSIX; on Windows backend::poll is wsapoll.hpp). Keeps a
// dense pollfd array plus a descriptor -> slot index so set() is O(1); removal swaps
// the last entry into the hole. ppoll gives a nanosecond timeout where available.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_POLL && defined(SLUICE_POSIX)
#include <poll.h>
#include <time.h>
#include <vector>

namespace sluice::detail {

class poll_poller final : public poller {
  public:
    std::error_code set(native_socket fd, unsigned, unsigned new_mask,
                        void* user) noexcept override {
        if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        auto ufd = static_cast<std::size_t>(fd);
        if (ufd >= slot_of_.size()) slot_of_.resize(ufd + 1, -1);
        int slot = slot_of_[ufd];
        if (new_mask == 0) {
            if (slot < 0) return {};
            auto last = static_cast<int>(fds_.size()) - 1;
            if (slot != last) {
                fds_[static_cast<std::size_t>(slot)] = fds_.back();
                users_[static_cast<std::size_t>(slot)] = users_.back();
                slot_of_[static_cast<std::size_t>(fds_[static_cast<std::size_t>(slot)].fd)] = slot;
            }
            fds_.pop_back();
            users_.pop_back();
            slot_of_[ufd] = -1;
            return {};
        }
        short events = static_cast<short>(((new_mask & ev_read) ? POLLIN : 0) |
                                          ((new_mask & ev_write) ? POLLOUT : 0));
        if (slot < 0) {
            slot_of_[ufd] = static_cast<int>(fds_.size());
            fds_.push_back(pollfd{fd, events, 0});
            users_.push_back(user);
        } else {
            fds_[static_cast<std::size_t>(slot)].events = events;
            users_[static_cast<std::size_t>(slot)] = user;
        }
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        int n;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
        timespec ts{};
        timespec* tsp = to_timespec(timeout_us, ts);
        n = ::ppoll(fds_.data(), static_cast<nfds_t>(fds_.size()), tsp, nullptr);
#else
        int ms = timeout_ms_ceil(timeout_us);
        n = ::poll(fds_.data(), static_cast<nfds_t>(fds_.size()), ms);
#endif
        if (n < 0) {
            if (errno == EINTR) return 0;
            ec = platform::last_error();
            return 0;
        }
        return collect_ready(fds_, users_, n, out, capacity, start_,
                             POLLIN | POLLHUP | POLLERR | POLLNVAL,
                             POLLOUT | POLLHUP | POLLERR | POLLNVAL);
    }

    backend kind() const noexcept override { return backend::poll; }

  private:
    std::vector<pollfd> fds_;
    std::vector<void*> users_;
    std::vector<int> slot_of_;
    std::size_t start_ = 0;
};

} // namespace sluice::detail
#endif
