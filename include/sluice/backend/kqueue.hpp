// sluice — kqueue backend (macOS, BSDs; on Linux when SLUICE_HAS_KQUEUE is forced
// with an emulation library such as libkqueue). Read and write are separate filters,
// so set() adds or deletes only the filters whose bit changed.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_KQUEUE
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>

namespace sluice::detail {

class kqueue_poller final : public poller {
  public:
    explicit kqueue_poller(std::error_code& ec) noexcept {
        kq_ = ::kqueue();
        if (kq_ < 0) {
            ec = platform::last_error();
            return;
        }
        ::fcntl(kq_, F_SETFD, FD_CLOEXEC);
    }
    ~kqueue_poller() override {
        if (kq_ >= 0) ::close(kq_);
    }

    std::error_code set(native_socket fd, unsigned old_mask, unsigned new_mask,
                        void* user) noexcept override {
        struct kevent ch[2];
        int n = 0;
        auto change = [&](unsigned bit, short filter) {
            bool had = old_mask & bit, want = new_mask & bit;
            if (want)
                EV_SET(&ch[n++], fd, filter, EV_ADD | EV_ENABLE, 0, 0, user);
            else if (had)
                EV_SET(&ch[n++], fd, filter, EV_DELETE, 0, 0, nullptr);
        };
        change(ev_read, EVFILT_READ);
        change(ev_write, EVFILT_WRITE);
        if (n && ::kevent(kq_, ch, n, nullptr, 0, nullptr) != 0) {
            if (new_mask == 0 && (errno == EBADF || errno == ENOENT)) return {};
            return platform::last_error();
        }
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        constexpr int batch = 256;
        struct kevent evs[batch];
        timespec ts{};
        timespec* tsp = to_timespec(timeout_us, ts);
        int n = ::kevent(kq_, nullptr, 0, evs, capacity < batch ? capacity : batch, tsp);
        if (n < 0) {
            if (errno == EINTR) return 0;
            ec = platform::last_error();
            // Closed behind our back: not ours to close any more.
            if (errno == EBADF) kq_ = -1;
            return 0;
        }
        int filled = 0;
        for (int i = 0; i < n; ++i) {
            unsigned e = evs[i].filter == EVFILT_READ ? ev_read : ev_write;
            if (evs[i].flags & (EV_EOF | EV_ERROR)) e = ev_read | ev_write;
            out[filled++] = {reinterpret_cast<void*>(evs[i].udata), e};
        }
        return filled;
    }

    backend kind() const noexcept override { return backend::kqueue; }
    std::intptr_t native_handle() const noexcept override { return kq_; }

  private:
    int kq_ = -1;
};

} // namespace sluice::detail
#endif
