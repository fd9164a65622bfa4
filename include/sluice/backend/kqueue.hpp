// sluice — kqueue backend (macOS, BSDs; on Linux when SLUICE_HAS_KQUEUE is forced
// with an emulation library such as libkqueue). Read and write are separate filters,
// so set() adds or deletes only the filters whose bit changed. A socket's error comes
// with its EV_EOF event (in fflags) and is kept for reported_error().
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
        // A filter whose bit did not change is left alone: adding it again would cost
        // a change entry for nothing (and re-arm it under some emulations).
        struct kevent ch[2];
        int n = 0;
        const unsigned changed = old_mask ^ new_mask;
        if (changed & ev_read) {
            struct kevent& c = ch[n++];
            if (new_mask & ev_read)
                EV_SET(&c, fd, EVFILT_READ, EV_ADD | EV_ENABLE, 0, 0, user);
            else
                EV_SET(&c, fd, EVFILT_READ, EV_DELETE, 0, 0, nullptr);
        }
        if (changed & ev_write) {
            struct kevent& c = ch[n++];
            if (new_mask & ev_write)
                EV_SET(&c, fd, EVFILT_WRITE, EV_ADD | EV_ENABLE, 0, 0, user);
            else
                EV_SET(&c, fd, EVFILT_WRITE, EV_DELETE, 0, 0, nullptr);
        }
        if (n && ::kevent(kq_, ch, n, nullptr, 0, nullptr) != 0) {
            if (new_mask == 0 && (errno == EBADF || errno == ENOENT)) return {};
            return platform::last_error();
        }
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        struct kevent evs[batch];
        timespec ts{};
        timespec* tsp = to_timespec(timeout_us, ts);
        reported_count_ = 0;
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
            void* user = reinterpret_cast<void*>(evs[i].udata);
            unsigned e = evs[i].filter == EVFILT_READ ? ev_read : ev_write;
            if (evs[i].flags & (EV_EOF | EV_ERROR)) {
                e = ev_read | ev_write;
                // kqueue(2): a socket's EV_EOF carries its pending error in fflags; that
                // is where BSD reports a refused connect.
                if ((evs[i].flags & EV_EOF) && evs[i].fflags)
                    reported_[reported_count_++] = {user, static_cast<int>(evs[i].fflags)};
            }
            out[filled++] = {user, e};
        }
        return filled;
    }

    std::error_code reported_error(const void* user) const noexcept override {
        for (int i = 0; i < reported_count_; ++i)
            if (reported_[i].user == user) return {reported_[i].error, std::system_category()};
        return {};
    }

    backend kind() const noexcept override { return backend::kqueue; }
    std::intptr_t native_handle() const noexcept override { return kq_; }

  private:
    static constexpr int batch = 256; // events taken per wait

    struct reported {
        const void* user;
        int error;
    };

    int kq_ = -1;
    // The errors the last wait's events carried, at most one per event.
    reported reported_[batch];
    int reported_count_ = 0;
};

} // namespace sluice::detail
#endif
