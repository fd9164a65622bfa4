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
// - Writes go out as IORING_OP_SEND (one region) or SENDMSG (several), submitted with
//   the turn's enter: a socket send runs inline at submission, so the write costs no
//   system call of its own. Each send holds its own references to the bytes (pool blocks,
//   shared bytes) until its completion, even when the stream closes first.
//
// A completion that arrives for a registration that was changed or removed in between
// (it may already sit in the completion ring) carries an older generation in its
// user_data and is dropped: the loop never hears of a handle it stopped watching.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_IO_URING
#include <sluice/backend/uring_ring.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <deque>
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

    // The kernel reads the bytes of a send until its completion: sends still in flight
    // are cancelled and waited for (bounded) before their references go. From another
    // thread (or with the ring gone) the ring's own teardown ends them.
    ~uring_poller() override {
        if (in_flight_ == 0 || ring_.fd() < 0 || !ring_.enabled() || !ring_.on_owner_thread())
            return;
        for (std::uint32_t id = 0; id < sends_.size(); ++id) {
            if (!sends_[id].busy) continue;
            if (!ring_.has_room(1)) ring_.enter(0, 0);
            if (io_uring_sqe* e = ring_.next_sqe()) cancel(e, send_bit | id);
        }
        for (int round = 0; round < 100 && in_flight_ > 0; ++round) {
            if (ring_.enter(1, 10000) == -EBADF) break;
            ring_.reap([&](const io_uring_cqe& c) {
                if (c.user_data != ignore && is_send(c.user_data)) release_send(op_id(c.user_data));
                return true;
            });
        }
    }

    bool receives() const noexcept override { return receives_; }
    bool sends() const noexcept override { return true; }

    bool send(native_socket fd, void* user, const send_piece* pieces,
              std::size_t n) noexcept override {
        if (fd < 0 || n == 0 || n > max_send_pieces) return true;
        if (!ring_.has_room(1) && !flush(1)) return false;
        const std::uint32_t id = acquire_send();
        send_op& op = sends_[id];
        op.user = user;
        op.fd = fd;
        op.orphaned = false;
        std::size_t total = 0;
        for (std::size_t i = 0; i < n; ++i) {
            op.iov[i].iov_base = const_cast<unsigned char*>(pieces[i].data);
            op.iov[i].iov_len = pieces[i].size;
            if (pieces[i].block) op.blocks[i] = *pieces[i].block;
            if (pieces[i].shared) op.shared[i] = *pieces[i].shared;
            total += pieces[i].size;
        }
        op.pieces = n;
        io_uring_sqe* e = ring_.next_sqe();
        e->fd = fd;
        e->msg_flags = MSG_NOSIGNAL;
        e->user_data = send_bit | id;
        if (n == 1) {
            e->opcode = IORING_OP_SEND;
            e->addr = reinterpret_cast<std::uint64_t>(pieces[0].data);
            e->len = static_cast<std::uint32_t>(total);
        } else {
            // The header stays with the op until the completion, whenever the kernel reads it.
            std::memset(&op.msg, 0, sizeof op.msg);
            op.msg.msg_iov = op.iov;
            op.msg.msg_iovlen = n;
            e->opcode = IORING_OP_SENDMSG;
            e->addr = reinterpret_cast<std::uint64_t>(&op.msg);
            e->len = 1;
        }
        at(fd).send_id = id;
        return true;
    }

    void submit() noexcept override {
        // Before the first wait the ring has no issuer yet: entering here would make this
        // thread its owner. What is queued goes with that first wait instead.
        if (ring_.enabled() && ring_.on_owner_thread()) ring_.enter(0, 0);
    }

    bool send_now(native_socket fd, int& res, bool cancel_it) noexcept override {
        const auto i = static_cast<std::size_t>(fd);
        if (fd < 0 || i >= slots_.size() || slots_[i].send_id == none) return false;
        if (!ring_.enabled() || !ring_.on_owner_thread()) return false;
        const std::uint32_t want = slots_[i].send_id;
        if (cancel_it) {
            if (!ring_.has_room(1) && !flush(1)) return false;
            cancel(ring_.next_sqe(), send_bit | want);
        }
        if (ring_.enter(0, 0) < 0) return false;
        bool found = false;
        ring_.reap([&](const io_uring_cqe& c) {
            if (c.user_data == ignore) return true;
            if (is_send(c.user_data) && op_id(c.user_data) == want) {
                res = c.res;
                found = true;
                slots_[i].send_id = none;
                release_send(want);
            } else {
                later_.push_back(c); // for the next wait, in order
            }
            return true;
        });
        return found;
    }

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
        if (!ring_.cq_empty() || !later_.empty()) timeout_us = 0; // a batch left over
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
        auto take = [&](const io_uring_cqe& c) {
            if (c.user_data == ignore) return true; // a removal's own completion
            if (filled == capacity) return false;
            if (is_send(c.user_data))
                take_sent(c, out, filled);
            else if (c.user_data & recv_bit)
                take_received(c, out, filled);
            else
                take_ready(c, out, filled);
            return true;
        };
        // What send_now() reaped for others first: it came before the ring's.
        std::size_t k = 0;
        while (k < later_.size() && take(later_[k])) ++k;
        later_.erase(later_.begin(), later_.begin() + static_cast<std::ptrdiff_t>(k));
        if (later_.empty()) ring_.reap(take);
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
        // A send in flight keeps its bytes (the op holds them) but tells nobody: its
        // completion, or its cancellation's, only releases them.
        const std::uint32_t sending = s.send_id;
        if (sending != none) sends_[sending].orphaned = true;
        s.send_id = none;
        // From here the slot forgets both requests: their completions no longer match it
        // (what the receive took is dropped with the socket; its buffers still go back).
        s.armed = 0;
        s.recv_armed = s.recv_cancelled = false;
        const std::uint32_t recv_gen = s.recv_gen++;
        if (!polled && !receiving && sending == none) return;
        // Before the first wait nothing was handed to the kernel (polls and receives are
        // armed by the wait), and a send made meanwhile must not go out with it: after the
        // close, the number may name another socket.
        if (!ring_.enabled()) {
            if (sending != none) ring_.neutralise(send_bit | sending);
            return;
        }
        // Only the thread that runs the loop enters the ring (a loop destroyed from
        // another thread: the ring's own teardown ends the requests).
        if (!ring_.on_owner_thread()) return;
        if (!ring_.has_room(3) && !flush(3)) return;
        if (sending != none) cancel(ring_.next_sqe(), send_bit | sending);
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
    static constexpr std::uint32_t none = ~std::uint32_t(0);
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
        std::uint32_t send_id = none; // the send in flight for this descriptor
    };
    // A send in flight: its bytes are held here until its completion, whatever happens
    // to the stream or the socket meanwhile. In a deque: the header the kernel may read
    // does not move while others are added.
    struct send_op {
        void* user = nullptr;
        int fd = -1;
        bool busy = false;
        bool orphaned = false; // its socket closed: the completion only frees the bytes
        std::size_t pieces = 0;
        std::uint32_t next_free = none;
        msghdr msg;
        iovec iov[max_send_pieces];
        send_ref blocks[max_send_pieces];
        shared_bytes shared[max_send_pieces];
    };
    // user_data: the descriptor in the low 32 bits, a generation above, and the top two
    // bits telling a receive or a send (the op's number below) from a poll; `ignore`
    // marks requests whose completions mean nothing.
    static constexpr std::uint64_t recv_bit = std::uint64_t(1) << 63;
    static constexpr std::uint64_t send_bit = std::uint64_t(1) << 62;
    static constexpr std::uint64_t ignore = ~std::uint64_t(0);
    static std::uint64_t tag(std::uint32_t gen, int fd) noexcept {
        return (std::uint64_t(gen & 0x3fffffffu) << 32) | std::uint32_t(fd);
    }
    static bool is_send(std::uint64_t u) noexcept { return (u & (recv_bit | send_bit)) == send_bit; }
    static std::uint32_t op_id(std::uint64_t u) noexcept { return static_cast<std::uint32_t>(u); }

    static void cancel(io_uring_sqe* e, std::uint64_t target) noexcept {
        e->opcode = IORING_OP_ASYNC_CANCEL;
        e->fd = -1;
        e->addr = target;
        e->user_data = ignore;
    }

    std::uint32_t acquire_send() {
        std::uint32_t id = free_send_;
        if (id != none) {
            free_send_ = sends_[id].next_free;
        } else {
            id = static_cast<std::uint32_t>(sends_.size());
            sends_.emplace_back();
        }
        sends_[id].busy = true;
        ++in_flight_;
        return id;
    }

    void release_send(std::uint32_t id) noexcept {
        send_op& op = sends_[id];
        for (std::size_t i = 0; i < op.pieces; ++i) {
            op.blocks[i].reset();
            op.shared[i] = shared_bytes();
        }
        op.pieces = 0;
        op.user = nullptr;
        op.busy = false;
        op.next_free = free_send_;
        free_send_ = id;
        --in_flight_;
    }

    void take_sent(const io_uring_cqe& c, ready_event* out, int& filled) noexcept {
        const std::uint32_t id = op_id(c.user_data);
        if (id >= sends_.size() || !sends_[id].busy) return;
        send_op& op = sends_[id];
        if (!op.orphaned) {
            slots_[static_cast<std::size_t>(op.fd)].send_id = none;
            out[filled++] = {op.user, ev_sent, c.res, nullptr};
        }
        release_send(id);
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
            if (!ring_.has_room(2) && !flush(2)) break;
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
    bool flush(unsigned room) noexcept {
        ring_.enter(0, 0);
        return ring_.has_room(room);
    }

    uring ring_;
    provided_buffers buffers_;
    bool receives_ = false;
    std::vector<slot> slots_;
    std::vector<int> changes_;
    std::vector<unsigned short> lent_; // buffers handed out by the last wait
    std::deque<send_op> sends_;
    std::uint32_t free_send_ = none;
    std::size_t in_flight_ = 0;
    std::vector<io_uring_cqe> later_; // reaped by send_now(), for the next wait
};

} // namespace sluice::detail
#endif
