// sluice — select(2) backend, the lowest common denominator.
//
// POSIX: select() cannot watch a descriptor >= FD_SETSIZE (writing past the fd_set is
// undefined behaviour), so set() refuses such descriptors with error::fd_too_large
// instead of corrupting memory.
//
// Windows: an fd_set is a count plus an array of SOCKETs, so FD_SETSIZE (64 by
// default there) is how many sockets a set holds, not a bound on their values. The
// rule becomes: at most SLUICE_FD_SETSIZE sockets are watched at once, and the next
// one is refused with error::fd_too_large. SLUICE_FD_SETSIZE defaults to FD_SETSIZE;
// define either before including sluice to raise it (e.g. -DSLUICE_FD_SETSIZE=1024).
// The sets are sluice's own arrays of that size, laid out as Winsock's fd_set, so the
// limit holds even when <winsock2.h> was included first with the default FD_SETSIZE.
// A failed non-blocking connect is reported in exceptfds there (never in writefds),
// so sockets waiting for their first writability are also watched for exceptions.
#pragma once

#include <sluice/backend/backend.hpp>
#include <sluice/backend/socket_index.hpp>

#if SLUICE_HAS_SELECT
#include <vector>

#if defined(SLUICE_POSIX)
#include <sys/select.h>

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
            if (timeout_us > max_wait_us) timeout_us = max_wait_us;
            tv.tv_sec = static_cast<time_t>(timeout_us / 1000000);
            tv.tv_usec = static_cast<suseconds_t>(timeout_us % 1000000);
            tvp = &tv;
        }
        int n = ::select(max_fd_ + 1, &r, &w, nullptr, tvp);
        if (n < 0) {
            // EBADF when a watched descriptor was closed behind the loop's back: select
            // cannot say which, so the loop stops with the error.
            if (errno == EINTR) return 0;
            ec = platform::last_error();
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

#elif defined(SLUICE_WINDOWS)

#if !defined(SLUICE_FD_SETSIZE)
#define SLUICE_FD_SETSIZE FD_SETSIZE
#endif

namespace sluice::detail {

class select_poller final : public poller {
  public:
    static constexpr std::size_t capacity = SLUICE_FD_SETSIZE;
    static_assert(capacity > 0, "SLUICE_FD_SETSIZE must be positive");

    std::error_code set(native_socket fd, unsigned, unsigned new_mask,
                        void* user) noexcept override {
        if (fd == invalid_socket) return std::make_error_code(std::errc::bad_file_descriptor);
        int slot = index_.find(fd);
        if (new_mask == 0) {
            if (slot < 0) return {};
            std::size_t s = static_cast<std::size_t>(slot);
            if (s != entries_.size() - 1) {
                entries_[s] = entries_.back();
                index_.put(entries_[s].fd, slot);
            }
            entries_.pop_back();
            index_.erase(fd);
            return {};
        }
        if (slot < 0) {
            if (entries_.size() >= capacity) return make_error_code(error::fd_too_large);
            if (entries_.empty()) alloc_sets();
            index_.put(fd, static_cast<int>(entries_.size()));
            entries_.push_back({fd, new_mask, user, false});
        } else {
            entry& e = entries_[static_cast<std::size_t>(slot)];
            e.mask = new_mask;
            e.user = user;
        }
        return {};
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity_out,
             std::error_code& ec) noexcept override {
        if (entries_.empty()) {
            // select() with three empty sets fails at once with WSAEINVAL.
            int ms = timeout_ms_ceil(timeout_us);
            ::Sleep(ms < 0 ? INFINITE : static_cast<DWORD>(ms));
            return 0;
        }
        sets_->read.count = sets_->write.count = sets_->except.count = 0;
        for (const entry& e : entries_) {
            if (e.mask & ev_read) sets_->read.add(e.fd);
            if (e.mask & ev_write) {
                sets_->write.add(e.fd);
                if (!e.was_writable) sets_->except.add(e.fd);
            }
        }
        timeval tv{};
        timeval* tvp = nullptr;
        if (timeout_us >= 0) {
            if (timeout_us > max_wait_us) timeout_us = max_wait_us;
            std::int64_t sec = timeout_us / 1000000;
            tv.tv_sec = static_cast<long>(sec);
            tv.tv_usec = static_cast<long>(timeout_us % 1000000);
            tvp = &tv;
        }
        int n = ::select(0, sets_->read.as_fd_set(), sets_->write.as_fd_set(),
                         sets_->except.as_fd_set(), tvp);
        if (n == SOCKET_ERROR) {
            // WSAENOTSOCK for a socket closed behind the loop's back. Winsock's select
            // is not interrupted by signals, so every failure ends run().
            ec = platform::last_error();
            return 0;
        }
        // Windows compacts each set to its ready sockets: collect the bits per entry,
        // then emit one event per socket.
        touched_.clear();
        auto mark = [this](const socket_set& ready, unsigned bits) {
            for (u_int k = 0; k < ready.count; ++k) {
                int slot = index_.find(ready.sockets[k]);
                if (slot < 0) continue;
                entry& e = entries_[static_cast<std::size_t>(slot)];
                if (!e.ready) touched_.push_back(slot);
                e.ready |= bits;
            }
        };
        mark(sets_->read, ev_read);
        mark(sets_->write, ev_write);
        mark(sets_->except, ev_read | ev_write);
        int filled = 0;
        for (int slot : touched_) {
            entry& e = entries_[static_cast<std::size_t>(slot)];
            if (e.ready & ev_write) e.was_writable = true;
            unsigned events = e.ready & (ev_read | ev_write);
            e.ready = 0;
            if (filled < capacity_out) out[filled++] = {e.user, events};
        }
        return filled;
    }

    backend kind() const noexcept override { return backend::select; }

  private:
    // Winsock's fd_set layout with room for `capacity` sockets; select() reads the
    // count and that many handles, whatever FD_SETSIZE the headers were built with.
    struct socket_set {
        u_int count;
        SOCKET sockets[capacity];
        void add(SOCKET s) noexcept { sockets[count++] = s; }
        fd_set* as_fd_set() noexcept { return reinterpret_cast<fd_set*>(this); }
    };
    struct sets {
        socket_set read, write, except;
    };

    struct entry {
        native_socket fd;
        unsigned mask;
        void* user;
        bool was_writable; // seen writable once: connected, so exceptfds has nothing to say
        unsigned ready = 0;
    };

    // On the heap: with a large SLUICE_FD_SETSIZE three sets would not fit a stack.
    void alloc_sets() {
        if (!sets_) sets_.reset(new sets);
    }

    std::vector<entry> entries_;
    std::vector<int> touched_;
    socket_index index_;
    std::unique_ptr<sets> sets_;
};

} // namespace sluice::detail
#endif
#endif
