// sluice — epoll backend (Linux). Level-triggered: the loop only changes interest
// when a handle's wanted mask really changes, so a connection that keeps reading costs
// no epoll_ctl per read. Waits use epoll_pwait2 (microsecond timeout) when the kernel
// has it, epoll_wait with the timeout rounded up otherwise — never early.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_EPOLL
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>

namespace sluice::detail {

class epoll_poller final : public poller {
  public:
    explicit epoll_poller(std::error_code& ec) noexcept {
        epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) ec = platform::last_error();
    }
    ~epoll_poller() override {
        if (epfd_ >= 0) ::close(epfd_);
    }

    std::error_code set(native_socket fd, unsigned old_mask, unsigned new_mask,
                        void* user) noexcept override {
        epoll_event ev{};
        ev.events = ((new_mask & ev_read) ? EPOLLIN : 0u) | ((new_mask & ev_write) ? EPOLLOUT : 0u);
        ev.data.ptr = user;
        int op = old_mask == 0 ? EPOLL_CTL_ADD : (new_mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
        if (::epoll_ctl(epfd_, op, fd, &ev) != 0) {
            // A descriptor closed behind our back is already gone from the set.
            if (op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)) return {};
            return platform::last_error();
        }
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        constexpr int batch = 256;
        epoll_event evs[batch];
        int max = capacity < batch ? capacity : batch;
        int n = -1;
#if defined(SYS_epoll_pwait2)
        if (have_pwait2_) {
            timespec ts{};
            timespec* tsp = to_timespec(timeout_us, ts);
            n = static_cast<int>(::syscall(SYS_epoll_pwait2, epfd_, evs, max, tsp, nullptr, 0));
            if (n < 0 && (errno == ENOSYS || errno == EPERM))
                have_pwait2_ = false; // old kernel, seccomp
        }
        if (!have_pwait2_)
#endif
        {
            int ms = timeout_us < 0 ? -1
                                    : static_cast<int>(timeout_us > 2000000000LL * 1000
                                                           ? 2000000000LL
                                                           : (timeout_us + 999) / 1000);
            n = ::epoll_wait(epfd_, evs, max, ms);
        }
        if (n < 0) {
            if (errno == EINTR) return 0;
            ec = platform::last_error();
            // EBADF: the descriptor was closed behind our back; EINVAL: its number now
            // names something else. Either way it is not ours to close any more.
            if (errno == EBADF || errno == EINVAL) epfd_ = -1;
            return 0;
        }
        for (int i = 0; i < n; ++i) {
            unsigned e = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) e |= ev_read;
            if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) e |= ev_write;
            out[i] = {evs[i].data.ptr, e};
        }
        return n;
    }

    backend kind() const noexcept override { return backend::epoll; }
    std::intptr_t native_handle() const noexcept override { return epfd_; }

  private:
    int epfd_ = -1;
    bool have_pwait2_ = true;
};

} // namespace sluice::detail
#endif
