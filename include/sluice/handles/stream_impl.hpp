// sluice — what a connected byte stream (TCP or Unix domain) is inside the loop:
// detail::stream_impl, its reads, its write queue and its failure rules. The handle users
// hold is in stream.hpp.
//
// Reads: read_some() into the caller's buffer, or read_start() which reads into the
// loop's shared buffer and hands out a view; a stream that is waiting for data owns
// no read memory. Writes: write() sends at once when nothing is queued (most writes
// never touch the queue); what the socket does not take is copied into the stream's
// queue and flushed with gathered sends. The queue has watermarks (write_queue_high()
// says stop producing; a one-shot on_drain() says the queue is back at the low mark)
// and a hard cap, so a peer that stops reading cannot make us buffer without bound.
//
// No hole, ever (docs/guide/lifetimes.md rule 5): the bytes of every write reach the
// peer whole and in order, or the stream fails. A write the stream must refuse (past
// the hard cap, after shutdown_write()), a send error, a timeout or cancelling a write
// whose bytes have started to go out fails the stream: it is closed with a reset (so
// the peer cannot take a truncated stream for a complete one), every pending operation
// completes with the error, and on_error() hears it.
//
// Connecting (name lookup, Happy Eyeballs, the connect timeout) is in connect.hpp.
#pragma once

#include <sluice/handles/handle.hpp>
#include <sluice/platform/endpoint.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct write_limits {
    std::size_t low_watermark = 256 * 1024;
    std::size_t high_watermark = 1024 * 1024;
    std::size_t hard_cap = 64 * 1024 * 1024;
};

// How a connect proceeds (connect.hpp).
struct connect_options {
    // The whole connect, name lookup included; it then fails with error::timed_out.
    // Zero: no limit but the kernel's own (minutes).
    std::chrono::milliseconds timeout{30000};
    // Happy Eyeballs (RFC 8305 §5): when an address has not connected after this long,
    // the next one is tried in parallel; the first to connect wins.
    std::chrono::milliseconds attempt_delay{250};
};

namespace detail {

class stream_impl;
class connector;
// Defined in connect.hpp, which needs stream_impl complete.
inline void connector_own_ready(connector* c);
inline void connector_cancel(connector* c, std::error_code reason);
inline void delete_connector(connector* c) noexcept;
SLUICE_DECL connector* make_connector(stream_impl& s, io_handler done, const connect_options& o);
SLUICE_DECL void connector_start(connector* c, std::vector<endpoint> targets);
SLUICE_DECL void connector_lookup(connector* c, std::string host, std::uint16_t port);

struct write_entry {
    shared_bytes bytes;
    std::size_t offset;
    io_handler done;
    std::size_t request_size; // reported to `done`: the size of the whole write() call
    std::uint64_t id;         // for cancelling this write alone (the coroutine layer)
    bool started;             // some of its bytes reached the kernel
};

// State that only some streams need, allocated on first use so an idle connection
// pays one pointer for it.
struct stream_ext final : timer_node {
    explicit stream_ext(stream_impl* o) : owner(o) {}
    ~stream_ext() { delete_connector(conn); }
    stream_ext(const stream_ext&) = delete;
    stream_ext& operator=(const stream_ext&) = delete;
    // Declared inline, not only defined so: a virtual function declared without it is the
    // class's key function, and GCC then emits the vtable, and everything it reaches, in
    // every translation unit that includes the header.
    inline void on_timer() override;

    stream_impl* owner;
    std::deque<write_entry> queue;
    std::size_t buffered = 0;
    write_limits limits;
    unique_function<void()> on_drain;
    io_handler on_error;       // called once if the stream fails
    connector* conn = nullptr; // owned, while a connect is in progress
    std::uint64_t last_write_id = 0;
    // Bytes a completion backend received while no read wanted them (a read_stop() with
    // bytes in flight), or beyond a read_some() buffer, or an error that came with them:
    // the next reads get them first, in order.
    std::string stash;
    int stash_error = 0;
    // Timeouts in microseconds (0 = off) and the times they are measured from.
    std::int64_t idle_us = 0, read_us = 0, write_us = 0;
    std::int64_t last_activity = 0, read_started = 0, write_progress = 0;
};

class stream_impl final : public io_object {
  public:
    enum : std::uint8_t {
        connected = 1,
        connecting = 2, // name lookup or connection attempts in progress
        continuous = 4,
        eof_seen = 8,
        shutdown_requested = 16,
        write_shut = 32,
        close_after_flush = 64,
    };

    explicit stream_impl(loop& l) : io_object(l) { l.count_stream(true); }

    stream_ext& ext() {
        if (!ext_) ext_.reset(new stream_ext(this));
        return *ext_;
    }

    void update_interest() {
        unsigned mask = 0;
        bool receive = false;
        if (flags_ & connecting) {
            if (fd_ != invalid_socket) mask = ev_write; // the stream's own attempt
        } else {
            const bool wants_bytes =
                read_cb_ && !(flags_ & eof_seen) && !(ext_ && ext_->stash_error);
            // With a completion backend every read of a connected stream goes through its
            // receive, never a recv() beside it: bytes cannot overtake each other.
            // While bytes are kept, the receive pauses: the reader takes those first, and
            // what is kept cannot grow faster than it reads.
            if (loop_->receives() && (flags_ & connected))
                receive = wants_bytes && !stashed();
            else if (wants_bytes && !stashed())
                mask |= ev_read;
            if (ext_ && !ext_->queue.empty()) mask |= ev_write;
        }
        loop_->watch(this, mask);
        loop_->receive(this, receive);
    }

    bool stashed() const noexcept {
        return ext_ && (!ext_->stash.empty() || ext_->stash_error);
    }

    // Bytes from a completion backend (loop::receive).
    void on_data(int res, const char* data) override {
        if (res > 0) {
            const auto n = static_cast<std::size_t>(res);
            if (ext_) ext_->last_activity = ext_->read_started = loop_->now_us();
            if (stashed() || !read_cb_) {
                ext().stash.append(data, n); // behind what is kept already
                return;
            }
            if (read_buf_) { // read_some(): what does not fit is kept for the next read
                std::size_t m = n < read_len_ ? n : read_len_;
                std::memcpy(read_buf_, data, m);
                if (m < n) ext().stash.append(data + m, n - m);
                return deliver_read({}, m);
            }
            loop_->set_read_data(data);
            return deliver_read({}, n);
        }
        if (res == 0) {
            flags_ |= eof_seen;
        } else {
            ext().stash_error = -res;
        }
        if (read_cb_ && !(ext_ && !ext_->stash.empty())) deliver_kept();
    }

    // Hands the next read what was kept: bytes first, then an error, then end of stream.
    void deliver_kept() {
        if (ext_ && !ext_->stash.empty()) {
            std::string& st = ext_->stash;
            if (read_buf_) {
                std::size_t m = st.size() < read_len_ ? st.size() : read_len_;
                std::memcpy(read_buf_, st.data(), m);
                st.erase(0, m);
                return deliver_read({}, m);
            }
            // Taken out first: the handler may stop, or read again into the stash. At most
            // what a read from the shared buffer would give, as on every other backend.
            std::string chunk;
            if (st.size() <= loop::shared_buffer_size) {
                chunk = std::move(st);
                st.clear();
            } else {
                chunk.assign(st, 0, loop::shared_buffer_size);
                st.erase(0, loop::shared_buffer_size);
            }
            loop_->set_read_data(chunk.data());
            deliver_read({}, chunk.size());
            if (!closed() && read_cb_ && (stashed() || (flags_ & eof_seen)))
                loop_->defer([s = ref<stream_impl>(this)] {
                    if (!s->closed() && s->read_cb_) s->deliver_kept();
                });
            return;
        }
        if (ext_ && ext_->stash_error) {
            std::error_code ec(std::exchange(ext_->stash_error, 0), platform::system_errors());
            return deliver_read(ec, 0);
        }
        if (flags_ & eof_seen) deliver_read(make_error_code(error::eof), 0);
    }

    void on_ready(unsigned events) override {
        if (flags_ & connecting) {
            if (events && ext_ && ext_->conn) connector_own_ready(ext_->conn);
            return;
        }
        if ((events & ev_write) && ext_ && !ext_->queue.empty()) flush();
        if (!closed() && (events & ev_read) && read_cb_) do_read();
    }

    // ---- reading ----

    void start_read(char* buf, std::size_t len, io_handler h, bool keep_reading) {
        read_cb_ = std::move(h);
        read_buf_ = buf;
        read_len_ = len;
        if (keep_reading)
            flags_ |= continuous;
        else
            flags_ &= static_cast<std::uint8_t>(~continuous);
        if (stashed()) {
            // Kept bytes first, from the loop as always; a receive goes on meanwhile and
            // appends behind them.
            loop_->defer([s = ref<stream_impl>(this)] {
                if (!s->closed() && s->read_cb_) s->deliver_kept();
            });
            return update_interest();
        }
        if (flags_ & eof_seen) {
            // Reported from the loop, never from here; and only if the read is still
            // there then, so that a read_stop() in between ends it silently as promised.
            return loop_->defer([s = ref<stream_impl>(this)] {
                if (!s->closed() && s->read_cb_ && (s->flags_ & eof_seen))
                    s->deliver_read(make_error_code(error::eof), 0);
            });
        }
        if (ext_ && ext_->read_us) {
            ext_->read_started = loop_->now_us();
            arm_timeouts();
        }
        update_interest();
    }

    // A one-shot read completes with operation_aborted; a subscription (read_start) ends
    // silently, its handler released from the loop (docs/guide/lifetimes.md rule 3).
    void stop_read() {
        const bool subscription = flags_ & continuous;
        flags_ &= static_cast<std::uint8_t>(~continuous);
        read_buf_ = nullptr;
        if (read_cb_) {
            if (subscription)
                loop_->release_later(std::move(read_cb_));
            else
                loop_->complete(std::move(read_cb_), make_error_code(error::operation_aborted), 0);
        }
        update_interest();
    }

    void do_read() {
        char* buf = read_buf_ ? read_buf_ : loop_->shared_buffer();
        std::size_t cap = read_buf_ ? read_len_ : loop::shared_buffer_size;
        std::ptrdiff_t r = platform::recv_raw(fd_, buf, cap);
        if (!read_buf_) loop_->set_read_data(buf);
        std::error_code ec(0, platform::system_errors());
        std::size_t n = 0;
        if (r < 0) {
            if (platform::would_block_errno(static_cast<int>(-r))) return;
            ec.assign(static_cast<int>(-r), platform::system_errors());
        } else {
            n = static_cast<std::size_t>(r);
            if (n == 0 && cap != 0) {
                flags_ |= eof_seen;
                ec = make_error_code(error::eof);
            }
        }
        if (ext_) ext_->last_activity = ext_->read_started = loop_->now_us();
        deliver_read(ec, n);
    }

    // From the loop's dispatch (or a deferred call): the handler may run here.
    void deliver_read(std::error_code ec, std::size_t n) {
        if (ec) flags_ &= static_cast<std::uint8_t>(~continuous);
        if (flags_ & continuous) {
            // Moved out while it runs: it may stop this read or start another one; it
            // is put back only if neither happened.
            io_handler h = std::move(read_cb_);
            h(ec, n);
            if ((flags_ & continuous) && !read_cb_ && !closed()) read_cb_ = std::move(h);
        } else {
            io_handler h = std::move(read_cb_);
            read_buf_ = nullptr;
            h(ec, n);
        }
        if (!closed()) update_interest();
    }

    // ---- writing ----

    // `done` by reference: the public overloads hand it down without a move per layer.
    // Returns the queued write's id, or 0 when it completed (or failed) at once.
    std::uint64_t write(const const_buffer* bufs, std::size_t count, io_handler&& done,
                        shared_bytes* shared) {
        std::size_t total = 0;
        for (std::size_t i = 0; i < count; ++i) total += bufs[i].size;
        std::size_t buffered = ext_ ? ext_->buffered : 0;
        std::size_t cap = ext_ ? ext_->limits.hard_cap : write_limits{}.hard_cap;
        if (flags_ & (shutdown_requested | write_shut))
            return refuse(std::move(done), std::make_error_code(std::errc::broken_pipe));
        if (total > cap || buffered > cap - total)
            return refuse(std::move(done), make_error_code(error::write_queue_full));

        std::size_t sent = 0;
        if (buffered == 0 && (flags_ & connected) && count == 1) {
            // Fastest path: one buffer, nothing queued (an echo, a response).
            std::ptrdiff_t r = platform::send_raw(fd_, bufs[0].data, total);
            if (r < 0 && !platform::would_block_errno(static_cast<int>(-r)))
                return refuse(std::move(done), {static_cast<int>(-r), platform::system_errors()});
            if (r > 0) {
                sent = static_cast<std::size_t>(r);
                if (ext_) ext_->last_activity = ext_->write_progress = loop_->now_us();
            }
            if (sent == total) {
                if (done) loop_->complete(std::move(done), {0, platform::system_errors()}, total);
                return 0;
            }
        } else if (buffered == 0 && (flags_ & connected)) {
            // Fast path: nothing queued, so these bytes may go out now, in order.
            std::error_code ec;
            std::size_t first = 0, skip = 0;
            while (sent < total) {
                std::size_t n = platform::send_gather(fd_, bufs + first, count - first, ec);
                if (ec) break;
                sent += n;
                // Advance over the buffers that went out completely.
                n += skip;
                while (first < count && n >= bufs[first].size) n -= bufs[first++].size;
                skip = n;
                if (first < count && skip) break; // partial buffer: queue the rest
            }
            if (ec && !platform::would_block(ec)) return refuse(std::move(done), ec);
            if (ext_ && sent) ext_->last_activity = ext_->write_progress = loop_->now_us();
            if (sent == total) {
                loop_->complete(std::move(done), {}, total);
                return 0;
            }
        }

        // Queue what is left: one copy, or a reference when the caller gave shared bytes.
        stream_ext& x = ext();
        bool was_empty = x.queue.empty();
        std::size_t left = total - sent;
        const std::uint64_t id = ++x.last_write_id;
        if (shared && count == 1) {
            x.queue.push_back({*shared, sent, std::move(done), total, id, sent > 0});
        } else {
            std::string joined;
            joined.reserve(left);
            std::size_t pos = 0;
            for (std::size_t i = 0; i < count; ++i) {
                const char* p = static_cast<const char*>(bufs[i].data);
                std::size_t n = bufs[i].size;
                if (pos + n > sent) {
                    std::size_t from = sent > pos ? sent - pos : 0;
                    joined.append(p + from, n - from);
                }
                pos += n;
            }
            x.queue.push_back({shared_bytes(joined.data(), joined.size()), 0, std::move(done), total,
                               id, sent > 0});
        }
        x.buffered += left;
        if (was_empty) {
            x.write_progress = loop_->now_us();
            if (x.write_us) arm_timeouts();
        }
        update_interest();
        return id;
    }

    void flush() {
        stream_ext& x = *ext_;
        while (!x.queue.empty()) {
            constexpr std::size_t max_bufs = 64;
            const_buffer bufs[max_bufs];
            std::size_t n = 0;
            for (auto it = x.queue.begin(); it != x.queue.end() && n < max_bufs; ++it, ++n)
                bufs[n] =
                    const_buffer(it->bytes.data() + it->offset, it->bytes.size() - it->offset);
            std::error_code ec;
            std::size_t sent = platform::send_gather(fd_, bufs, n, ec);
            if (ec) {
                if (platform::would_block(ec)) break;
                return fail(ec);
            }
            x.buffered -= sent;
            x.last_activity = x.write_progress = loop_->now_us();
            bool socket_full = false;
            while (sent > 0) {
                write_entry& e = x.queue.front();
                e.started = true;
                std::size_t left = e.bytes.size() - e.offset;
                if (sent < left) {
                    e.offset += sent;
                    socket_full = true; // the kernel took less than offered
                    break;
                }
                sent -= left;
                loop_->complete(std::move(e.done), {}, e.request_size);
                x.queue.pop_front();
            }
            if (socket_full) break;
        }
        if (x.on_drain && x.buffered <= x.limits.low_watermark) {
            unique_function<void()> cb = std::move(x.on_drain); // one-shot
            cb();
        }
        if (closed()) return;
        if (x.queue.empty()) queue_drained();
        if (!closed()) update_interest();
    }

    // What a shutdown or close waited for, once the queue is empty.
    void queue_drained() {
        if (flags_ & close_after_flush) return close_with(make_error_code(error::operation_aborted));
        if ((flags_ & shutdown_requested) && !(flags_ & write_shut) && (flags_ & connected)) {
            flags_ |= write_shut;
            platform::shutdown_write(fd_);
        }
    }

    // A write the stream cannot take: it completes with `ec`, and the stream fails, so
    // that no later write can follow the missing bytes.
    std::uint64_t refuse(io_handler&& done, std::error_code ec) {
        loop_->complete(std::move(done), ec, 0);
        fail(ec);
        return 0;
    }

    // The stream failed (rule 5): on_error hears why, the peer gets a reset, every
    // pending operation completes with `ec`.
    void fail(std::error_code ec) {
        if (closed()) return;
        if (ext_ && ext_->on_error) loop_->complete(std::move(ext_->on_error), ec, 0);
        // An owner paused for backpressure may wait for nothing but on_drain: it runs (the
        // queue is gone), and the owner's next operation reports the failure. Without it a
        // stream that failed under backpressure kept its owner waiting for good.
        if (ext_ && ext_->on_drain) loop_->defer(std::move(ext_->on_drain));
        if (fd_ != invalid_socket && (flags_ & connected)) platform::reset_on_close(fd_);
        close_with(ec);
    }

    bool cancel_read() {
        if (!read_cb_) return false;
        read_buf_ = nullptr;
        flags_ &= static_cast<std::uint8_t>(~continuous);
        loop_->complete(std::move(read_cb_), make_error_code(error::operation_aborted), 0);
        update_interest();
        return true;
    }

    // Cancels every queued write. Only the front write can have started; if it has, its
    // remaining bytes cannot be withdrawn without a hole, and the stream fails.
    bool cancel_writes() {
        if (!ext_ || ext_->queue.empty()) return false;
        if (ext_->queue.front().started) {
            fail(make_error_code(error::operation_aborted));
            return true;
        }
        for (auto& e : ext_->queue)
            loop_->complete(std::move(e.done), make_error_code(error::operation_aborted), 0);
        ext_->queue.clear();
        ext_->buffered = 0;
        queue_drained();
        if (!closed()) update_interest();
        return true;
    }

    // Cancels one write: withdrawn when none of its bytes went out and nothing is queued
    // behind it, else the stream fails. False when it is no longer queued.
    bool cancel_write(std::uint64_t id) {
        if (!ext_ || id == 0) return false;
        auto& q = ext_->queue;
        for (auto it = q.begin(); it != q.end(); ++it) {
            if (it->id != id) continue;
            if (it->started || std::next(it) != q.end()) {
                fail(make_error_code(error::operation_aborted));
                return true;
            }
            loop_->complete(std::move(it->done), make_error_code(error::operation_aborted), 0);
            ext_->buffered -= it->bytes.size() - it->offset;
            q.erase(it);
            if (q.empty()) queue_drained();
            if (!closed()) update_interest();
            return true;
        }
        return false;
    }

    void shutdown_write() {
        flags_ |= shutdown_requested;
        if ((!ext_ || ext_->queue.empty()) && !(flags_ & write_shut) && (flags_ & connected)) {
            flags_ |= write_shut;
            platform::shutdown_write(fd_);
        }
    }

    void begin_shutdown() override {
        if (ext_ && !ext_->queue.empty() && (flags_ & connected)) {
            flags_ |= close_after_flush;
            flags_ &= static_cast<std::uint8_t>(~continuous);
            read_buf_ = nullptr;
            // The loop is shutting down: a read, even a subscription, gets its last call.
            if (read_cb_)
                loop_->complete(std::move(read_cb_), make_error_code(error::operation_aborted), 0);
            update_interest();
        } else {
            close_with(make_error_code(error::operation_aborted));
        }
    }

    // ---- connecting (connect.hpp drives it) ----

    void start_connect(std::vector<endpoint> targets, io_handler done,
                       const connect_options& opt) {
        connector* c = begin_connect(std::move(done), opt);
        connector_start(c, std::move(targets));
    }
    void start_connect(std::string host, std::uint16_t port, io_handler done,
                       const connect_options& opt) {
        connector* c = begin_connect(std::move(done), opt);
        connector_lookup(c, std::move(host), port);
    }
    // The connector ended (it has queued its handler): forget it.
    void connect_ended(bool ok) {
        flags_ &= static_cast<std::uint8_t>(~connecting);
        if (ok) flags_ |= connected;
        connector* c = std::exchange(ext_->conn, nullptr);
        delete_connector(c);
        if (!closed()) update_interest();
    }
    bool cancel_connect(std::error_code reason) {
        if (!(flags_ & connecting) || !ext_ || !ext_->conn) return false;
        connector_cancel(ext_->conn, reason);
        return true;
    }

    // Closes the descriptor of a failed or losing attempt without closing the handle.
    void drop_socket() {
        loop_->unwatch_now(this);
        loop_->closing(fd_);
        platform::close_socket(fd_);
        fd_ = invalid_socket;
    }

    // ---- timeouts ----

    void arm_timeouts() {
        stream_ext& x = *ext_;
        std::int64_t shortest = (std::numeric_limits<std::int64_t>::max)();
        for (std::int64_t t : {x.idle_us, x.read_us, x.write_us})
            if (t > 0 && t < shortest) shortest = t;
        if (shortest == (std::numeric_limits<std::int64_t>::max)()) return loop_->unschedule(&x);
        if (!x.queued()) loop_->schedule(&x, loop::clock_us() + shortest);
    }

    void check_timeouts() {
        stream_ext& x = *ext_;
        const std::int64_t now = loop_->now_us();
        std::int64_t next = (std::numeric_limits<std::int64_t>::max)();
        bool expired = false;
        auto consider = [&](bool active, std::int64_t since, std::int64_t limit) {
            if (!active || limit <= 0) return;
            if (since + limit <= now)
                expired = true;
            else if (since + limit < next)
                next = since + limit;
        };
        consider(true, x.last_activity, x.idle_us);
        consider(static_cast<bool>(read_cb_), x.read_started, x.read_us);
        consider(!x.queue.empty(), x.write_progress, x.write_us);
        if (expired) return fail(make_error_code(error::timed_out));
        if (next != (std::numeric_limits<std::int64_t>::max)()) loop_->schedule(&x, next);
    }

    // ---- closing ----

    void close_with(std::error_code reason) override {
        if (closed()) return;
        if (read_cb_) {
            read_buf_ = nullptr;
            loop_->complete(std::move(read_cb_), reason, 0);
        }
        if (ext_) {
            loop_->unschedule(ext_.get());
            if (ext_->conn) connector_cancel(ext_->conn, reason);
            for (auto& e : ext_->queue) loop_->complete(std::move(e.done), reason, 0);
            ext_->queue.clear();
            ext_->buffered = 0;
            // Closed by its owner, or after on_error was queued: released, not called.
            loop_->release_later(std::move(ext_->on_error));
            if (ext_->on_drain) loop_->release_later(std::move(ext_->on_drain));
        }
        flags_ = 0;
        loop_->count_stream(false);
        loop_->retire(this);
    }

    io_handler read_cb_;
    char* read_buf_ = nullptr;
    std::size_t read_len_ = 0;
    std::unique_ptr<stream_ext> ext_;

  private:
    connector* begin_connect(io_handler done, const connect_options& opt) {
        flags_ |= connecting;
        stream_ext& x = ext();
        x.conn = make_connector(*this, std::move(done), opt);
        return x.conn;
    }
};

inline void stream_ext::on_timer() { owner->check_timeouts(); }

} // namespace detail
} // namespace sluice

#include <sluice/handles/connect.hpp>
