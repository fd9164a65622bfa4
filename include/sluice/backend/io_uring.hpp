// sluice — io_uring backend (Linux), written against the kernel interface: the rings are
// mapped and driven with the raw io_uring_setup / io_uring_enter / io_uring_register
// syscalls, so the library still has no dependency (no liburing).
//
// What pays, and why it is shaped this way:
// - One io_uring_enter per loop turn both submits every queued change and waits (with the
//   timeout passed in the same call, IORING_ENTER_EXT_ARG), where epoll needs one
//   epoll_ctl per change plus the wait.
// - IORING_SETUP_SINGLE_ISSUER + DEFER_TASKRUN: completions are processed in the waiting
//   thread at the wait, not by interrupting it. The ring is created disabled and enabled
//   on the first wait, so the thread that runs the loop (not the one that built it)
//   becomes its one issuer. Older kernels fall back to COOP_TASKRUN, then to no flags.
// - Readiness is a one-shot IORING_OP_POLL_ADD per descriptor, re-armed after each event
//   while the handle still wants it. Arming a poll checks readiness at once, so this is
//   level-triggered exactly like the other backends (a multishot poll would report only
//   new wake-ups, and a handle that read part of what was there would wait forever).
//
// A completion that arrives for a registration that was changed or removed in between
// (it may already sit in the completion ring) carries an older generation in its
// user_data and is dropped: the loop never hears of a handle it stopped watching.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_IO_URING
#include <sluice/backend/uring_ring.hpp>

#include <poll.h>

#include <vector>

namespace sluice::detail {

class uring_poller final : public poller {
  public:
    // On failure `ec` is set and `why` says what failed (the loop then falls back).
    uring_poller(std::error_code& ec, std::string& why) noexcept {
        ec = ring_.open(256, 4096, why);
        // Multishot receive (6.0) and buffer rings (5.19): without them reads stay recv()
        // calls after readiness, as on epoll.
        if (!ec) receives_ = buffers_.attach(ring_.fd());
    }

    std::error_code set(native_socket fd, unsigned old_mask, unsigned new_mask,
                        void* user) noexcept override {
        if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        slot& s = at(fd);
        s.user = user;
        s.wanted = static_cast<std::uint8_t>(new_mask);
        // A new registration (the number may belong to a new socket now) or a removal
        // (the socket is about to be closed): a poll still in flight watches the old file
        // and must go, whatever it watches.
        if (old_mask == 0 || new_mask == 0) s.renew = true;
        mark(fd);
        return {};
    }

    bool receives() const noexcept override { return receives_; }

    void receive(native_socket fd, void* user, bool on) noexcept override {
        if (fd < 0) return;
        slot& s = at(fd);
        s.user = user;
        s.recv_wanted = on;
        mark(fd);
    }

    int wait(std::int64_t timeout_us, ready_event* out, int capacity,
             std::error_code& ec) noexcept override {
        // The bytes handed out by the last call were valid until now.
        if (!lent_.empty()) {
            for (unsigned short id : lent_) buffers_.give_back(id);
            buffers_.publish();
            lent_.clear();
        }
        if (!ring_.cq_empty()) timeout_us = 0; // a batch left over from the last call
        if (!arm_changes()) timeout_us = 0;    // the rest goes in with the next turn
        int r = ring_.enter(timeout_us == 0 ? 0 : 1, timeout_us);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) {
            ec.assign(-r, std::system_category());
            // EBADF: the descriptor was closed behind our back; EOPNOTSUPP: its number now
            // names something else. Either way it is not ours to close any more.
            if (r == -EBADF || r == -EOPNOTSUPP) ring_.forget_fd();
            return 0;
        }
        int filled = 0;
        ring_.reap([&](const io_uring_cqe& c) {
            if (c.user_data == ignore) return true; // a removal's own completion
            if (filled == capacity) return false;
            if (c.user_data & recv_bit)
                take_received(c, out, filled);
            else
                take_ready(c, out, filled);
            return true;
        });
        return filled;
    }

    // A request in flight holds a reference to the file: until it is gone, closing the
    // descriptor would not close the socket. The removals go to the kernel now, and the
    // cancelled requests are released by the same call (deferred task work runs there).
    void closing(native_socket fd) noexcept override {
        const auto i = static_cast<std::size_t>(fd);
        if (fd < 0 || i >= slots_.size()) return;
        slot& s = slots_[i];
        s.wanted = 0;
        s.recv_wanted = false;
        const bool polled = s.armed, receiving = s.recv_armed && !s.recv_cancelled;
        // From here the slot forgets both requests: their completions no longer match it
        // (what the receive took is dropped with the socket; its buffers still go back).
        s.armed = 0;
        s.recv_armed = s.recv_cancelled = false;
        const std::uint32_t recv_gen = s.recv_gen++;
        if (!polled && !receiving) return;
        // Only the thread that runs the loop enters the ring (a loop destroyed from
        // another thread: the ring's own teardown ends the requests).
        if (!ring_.on_owner_thread()) return;
        if (!ring_.has_room(2) && !flush()) return;
        if (polled) {
            io_uring_sqe* e = ring_.next_sqe();
            e->opcode = IORING_OP_POLL_REMOVE;
            e->fd = -1;
            e->addr = tag(s.armed_gen, fd);
            e->user_data = ignore;
        }
        if (receiving) {
            io_uring_sqe* e = ring_.next_sqe();
            e->opcode = IORING_OP_ASYNC_CANCEL;
            e->fd = -1;
            e->addr = recv_bit | tag(recv_gen, fd);
            e->user_data = ignore;
        }
        ring_.enter(0, 0);
    }

    backend kind() const noexcept override { return backend::io_uring; }
    std::intptr_t native_handle() const noexcept override { return ring_.fd(); }

  private:
    struct slot {
        void* user = nullptr;
        std::uint32_t gen = 0;       // bumped for every new poll request
        std::uint32_t armed_gen = 0; // the generation of the poll in flight
        std::uint32_t recv_gen = 0;  // the receive's; bumped when its socket closes
        std::uint8_t wanted = 0;     // what the loop wants polled
        std::uint8_t armed = 0;      // what the poll in flight watches (0: none)
        bool marked = false;         // on the changes list
        bool renew = false;          // the poll in flight must go even if it matches
        bool recv_wanted = false;    // the handle wants bytes received for it
        bool recv_armed = false;     // a multishot receive is in flight
        bool recv_cancelled = false; // ... and asked to stop
    };
    // user_data: the descriptor in the low 32 bits, a generation above, and the top bit
    // telling a receive from a poll; `ignore` marks requests whose completions mean nothing.
    static constexpr std::uint64_t recv_bit = std::uint64_t(1) << 63;
    static constexpr std::uint64_t ignore = ~std::uint64_t(0);
    static std::uint64_t tag(std::uint32_t gen, int fd) noexcept {
        return (std::uint64_t(gen & 0x7fffffffu) << 32) | std::uint32_t(fd);
    }

    slot& at(int fd) {
        const auto i = static_cast<std::size_t>(fd);
        if (i >= slots_.size()) slots_.resize(i + 1 > 2 * slots_.size() ? i + 1 : 2 * slots_.size());
        return slots_[i];
    }

    void mark(int fd) {
        slot& s = slots_[static_cast<std::size_t>(fd)];
        if (s.marked) return;
        s.marked = true;
        changes_.push_back(fd);
    }

    void take_ready(const io_uring_cqe& c, ready_event* out, int& filled) noexcept {
        const auto fd = static_cast<std::size_t>(c.user_data & 0xffffffffu);
        if (fd >= slots_.size()) return;
        slot& s = slots_[fd];
        if (!s.armed || tag(s.armed_gen, static_cast<int>(fd)) != c.user_data)
            return; // changed or removed since
        s.armed = 0;
        if (s.wanted) mark(static_cast<int>(fd)); // re-armed before the next wait
        if (c.res == -ECANCELED) return;
        unsigned e = 0;
        if (c.res < 0) {
            e = ev_read | ev_write; // the handle's next syscall says what is wrong
        } else {
            const unsigned re = static_cast<unsigned>(c.res);
            if (re & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) e |= ev_read;
            if (re & (POLLOUT | POLLHUP | POLLERR)) e |= ev_write;
        }
        out[filled++] = {s.user, e, 0, nullptr};
    }

    // Bytes received (or the end of a receive). Bytes are never dropped while the socket
    // is open, even after the handle asked to stop: it keeps them for its next read.
    void take_received(const io_uring_cqe& c, ready_event* out, int& filled) noexcept {
        const bool has_buffer = c.flags & IORING_CQE_F_BUFFER;
        const auto id = static_cast<unsigned short>(c.flags >> IORING_CQE_BUFFER_SHIFT);
        if (has_buffer) lent_.push_back(id); // back to the kernel at the next wait
        const auto fd = static_cast<std::size_t>(c.user_data & 0xffffffffu);
        if (fd >= slots_.size()) return;
        slot& s = slots_[fd];
        const bool current = (c.user_data & ~recv_bit) == tag(s.recv_gen, static_cast<int>(fd));
        const bool ended = !(c.flags & IORING_CQE_F_MORE);
        if (current && ended) {
            s.recv_armed = false;
            s.recv_cancelled = false;
            if (c.res > 0 || c.res == -ENOBUFS || c.res == -ECANCELED) {
                // Stopped by the kernel (out of buffers, say) or by us: go on if still wanted.
                if (s.recv_wanted) mark(static_cast<int>(fd));
            } else {
                s.recv_wanted = false; // end of stream or an error ends the receive
            }
        }
        if (!current || c.res == -ENOBUFS || c.res == -ECANCELED) return;
        out[filled++] = {s.user, ev_data, c.res, has_buffer ? buffers_.data(id) : nullptr};
    }

    // Turns the changes since the last wait into submissions. False when the submission
    // queue could not take them all (the rest stay listed).
    bool arm_changes() noexcept {
        std::size_t done = 0;
        for (; done < changes_.size(); ++done) {
            const int fd = changes_[done];
            slot& s = slots_[static_cast<std::size_t>(fd)];
            if (!ring_.has_room(2) && !flush()) break;
            s.marked = false;
            if (s.armed && (s.armed != s.wanted || s.renew)) remove(s, fd);
            s.renew = false;
            if (!s.armed && s.wanted) add_poll(s, fd);
            if (s.recv_armed && !s.recv_wanted && !s.recv_cancelled) cancel_receive(s, fd);
            if (!s.recv_armed && s.recv_wanted) {
                if (!buffers_.fill()) {
                    // No memory for the buffers: this socket's reads fail rather than hang.
                    s.recv_wanted = false;
                    continue;
                }
                add_receive(s, fd);
            }
        }
        changes_.erase(changes_.begin(), changes_.begin() + static_cast<std::ptrdiff_t>(done));
        return changes_.empty();
    }

    void add_poll(slot& s, int fd) noexcept {
        io_uring_sqe* e = ring_.next_sqe();
        unsigned events = ((s.wanted & ev_read) ? POLLIN | POLLRDHUP : 0u) |
                          ((s.wanted & ev_write) ? POLLOUT : 0u);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        // The kernel reads poll32_events as two swapped halves on big-endian.
        events = (events << 16) | (events >> 16);
#endif
        e->opcode = IORING_OP_POLL_ADD;
        e->fd = fd;
        e->poll32_events = events;
        ++s.gen;
        e->user_data = tag(s.gen, fd);
        s.armed = s.wanted;
        s.armed_gen = s.gen;
    }

    void remove(slot& s, int fd) noexcept {
        io_uring_sqe* e = ring_.next_sqe();
        e->opcode = IORING_OP_POLL_REMOVE;
        e->fd = -1;
        e->addr = tag(s.armed_gen, fd);
        e->user_data = ignore;
        s.armed = 0;
    }

    void add_receive(slot& s, int fd) noexcept {
        io_uring_sqe* e = ring_.next_sqe();
        e->opcode = IORING_OP_RECV;
        e->fd = fd;
        e->ioprio = IORING_RECV_MULTISHOT;
        e->flags = IOSQE_BUFFER_SELECT;
        e->buf_group = provided_buffers::group;
        e->user_data = recv_bit | tag(s.recv_gen, fd);
        s.recv_armed = true;
        s.recv_cancelled = false;
    }

    // What the receive already took still arrives (and is kept by the handle).
    void cancel_receive(slot& s, int fd) noexcept {
        io_uring_sqe* e = ring_.next_sqe();
        e->opcode = IORING_OP_ASYNC_CANCEL;
        e->fd = -1;
        e->addr = recv_bit | tag(s.recv_gen, fd);
        e->user_data = ignore;
        s.recv_cancelled = true;
    }

    // The submission queue is full: hand it to the kernel without waiting.
    bool flush() noexcept {
        ring_.enter(0, 0);
        return ring_.has_room(2);
    }

    uring ring_;
    provided_buffers buffers_;
    bool receives_ = false;
    std::vector<slot> slots_;
    std::vector<int> changes_;
    std::vector<unsigned short> lent_; // buffers handed out by the last wait
};

} // namespace sluice::detail
#endif
