// sluice — select(2) backend, the lowest common denominator. select() cannot watch a
// descriptor >= FD_SETSIZE (writing past the fd_set is undefined behaviour), so set()
// refuses such descriptors with error::fd_too_large instead of corrupting memory.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_SELECT
#include <sys/select.h>
#include <vector>

namespace sluice::detail {

class select_poller final : public poller {
  public:
    select_poller() noexcept {
        FD_ZERO(&read_set_);
        FD_ZERO(&write_set_);
    }

    std::error_code set(native_socket fd, unsigned, unsigned new_mask,
                        void* user) noexcept override {
        if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        if (fd >= FD_SETSIZE) return make_error_code(error::fd_too_large);
        auto ufd = static_cast<std::size_t>(fd);
        if (ufd >= users_.size()) users_.resize(ufd + 1, nullptr);
        if (new_mask & ev_read)
            FD_SET(fd, &read_set_);
        else
            FD_CLR(fd, &read_set_);
        if (new_mask & ev_write)
            FD_SET(fd, &write_set_);
        else
            FD_CLR(fd, &write_set_);
        users_[ufd] = new_mask ? user : nullptr;
        if (new_mask && fd > max_fd_) max_fd_ = fd;
        while (max_fd_ >= 0 && !users_[static_cast<std::size_t>(max_fd_)]) --max_fd_;
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        fd_set r = read_set_, w = write_set_;
        timeval tv{};
        timeval* tvp = nullptr;
        if (timeout_us >= 0) {
            tv.tv_sec = static_cast<time_t>(timeout_us / 1000000);
            tv.tv_usec = static_cast<suseconds_t>(timeout_us % 1000000);
            tvp = &tv;
        }
        int n = ::select(max_fd_ + 1, &r, &w, nullptr, tvp);
        if (n < 0) {
            if (errno != EINTR) ec = platform::last_error();
            return 0;
        }
        int filled = 0;
        for (int fd = 0; fd <= max_fd_ && n > 0 && filled < capacity; ++fd) {
            unsigned e = (FD_ISSET(fd, &r) ? ev_read : 0u) | (FD_ISSET(fd, &w) ? ev_write : 0u);
            if (!e) continue;
            n -= ((e & ev_read) ? 1 : 0) + ((e & ev_write) ? 1 : 0);
            out[filled++] = {users_[static_cast<std::size_t>(fd)], e};
        }
        return filled;
    }

    backend kind() const noexcept override { return backend::select; }

  private:
    fd_set read_set_;
    fd_set write_set_;
    std::vector<void*> users_;
    int max_fd_ = -1;
};

} // namespace sluice::detail
#endif
