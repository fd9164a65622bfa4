// sluice — out-of-line bodies of sluice/handles/stream_impl.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/stream_impl.hpp>

namespace sluice::detail {

SLUICE_DECL void stream_ext::on_timer() { owner->check_timeouts(); }

SLUICE_DECL void stream_impl::update_interest() {
    unsigned mask = 0;
    bool receive = false;
    if (flags_ & connecting) {
        if (fd_ != invalid_socket) mask = ev_write; // the stream's own attempt
    } else {
        const bool wants_bytes =
            (read_cb_ || handshaking()) && !(flags_ & eof_seen) && !(ext_ && ext_->stash_error);
        // With a completion backend every read of a connected stream goes through its
        // receive, never a recv() beside it: bytes cannot overtake each other.
        // While bytes are kept, the receive pauses: the reader takes those first, and
        // what is kept cannot grow faster than it reads.
        if (loop_->receives() && (flags_ & connected))
            receive = wants_bytes && !stashed();
        else if (wants_bytes && !stashed())
            mask |= ev_read;
        if (ext_ && !ext_->queue.empty()) {
            if (ring_sends())
                loop_->send_due(this); // written before the connect completed, say
            else
                mask |= ev_write;
        }
    }
    loop_->watch(this, mask);
    loop_->receive(this, receive);
}

SLUICE_DECL void stream_impl::on_data(int res, const char* data) {
    if (flags_ & tls_on) return tls_on_data(res, data); // ciphertext: the engine first
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

SLUICE_DECL void stream_impl::deliver_kept() {
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

SLUICE_DECL void stream_impl::on_ready(unsigned events) {
    if (flags_ & connecting) {
        if (events && ext_ && ext_->conn) connector_own_ready(ext_->conn);
        return;
    }
    // A completion backend's send may be in flight: a send() from here could overtake it.
    if ((events & ev_write) && ext_ && !ext_->queue.empty() && !ring_sends()) flush();
    // TLS is tested here rather than in do_read(), which then stays as small as it was and
    // is still inlined (callgrind counted the difference on the echo benchmark).
    if (!closed() && (events & ev_read) && (read_cb_ || handshaking())) {
        if (flags_ & tls_on)
            tls_read_socket();
        else
            do_read();
    }
}

SLUICE_DECL void stream_impl::start_read(char* buf, std::size_t len, io_handler h,
                                         bool keep_reading) {
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

SLUICE_DECL void stream_impl::stop_read() {
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

SLUICE_DECL void stream_impl::do_read() {
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

SLUICE_DECL void stream_impl::deliver_read(std::error_code ec, std::size_t n) {
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

SLUICE_DECL std::uint64_t stream_impl::write(const const_buffer* bufs, std::size_t count,
                                             io_handler&& done, shared_bytes* shared) {
    if (flags_ & tls_on) return tls_write(bufs, count, std::move(done));
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += bufs[i].size;
    std::size_t buffered = ext_ ? ext_->buffered : 0;
    std::size_t cap = ext_ ? ext_->limits.hard_cap : write_limits{}.hard_cap;
    if (flags_ & (shutdown_requested | write_shut))
        return refuse(std::move(done), std::make_error_code(std::errc::broken_pipe));
    if (total > cap) return refuse(std::move(done), make_error_code(error::write_queue_full));
    if (ring_sends()) return ring_write(bufs, count, std::move(done), shared, total);
    if (buffered > cap - total)
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
        const unsigned char* base = shared->data();
        x.queue.push_back({*shared, send_ref(), base, shared->size(), sent, std::move(done), total,
                           id, sent > 0});
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
        shared_bytes copy(joined.data(), joined.size());
        const unsigned char* base = copy.data();
        x.queue.push_back({std::move(copy), send_ref(), base, left, 0, std::move(done), total, id,
                           sent > 0});
    }
    x.buffered += left;
    if (was_empty) {
        x.write_progress = loop_->now_us();
        if (x.write_us) arm_timeouts();
    }
    update_interest();
    return id;
}

SLUICE_DECL long long stream_impl::send_file_now(int file_fd, std::uint64_t offset,
                                                 std::size_t n) {
#if SLUICE_HAS_SENDFILE
    // TLS: the kernel would send the file in clear text between records; the caller
    // writes those bytes through the engine instead.
    if (n == 0 || !(flags_ & connected) || (flags_ & (shutdown_requested | write_shut | tls_on)) ||
        (ext_ && ext_->buffered != 0))
        return 0;
    const long long r = platform::send_file(fd_, file_fd, offset, n);
    if (r < 0) {
        const int err = static_cast<int>(-r);
        if (platform::would_block_errno(err)) return 0;
        fail({err, platform::system_errors()});
        return -1;
    }
    if (r > 0 && ext_) ext_->last_activity = ext_->write_progress = loop_->now_us();
    return r;
#else
    (void)file_fd;
    (void)offset;
    (void)n;
    return 0;
#endif
}

SLUICE_DECL void stream_impl::flush() {
    stream_ext& x = *ext_;
    while (!x.queue.empty()) {
        constexpr std::size_t max_bufs = 64;
        const_buffer bufs[max_bufs];
        std::size_t n = 0;
        for (auto it = x.queue.begin(); it != x.queue.end() && n < max_bufs; ++it, ++n)
            bufs[n] = const_buffer(it->data(), it->left());
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
            std::size_t left = e.left();
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
    after_progress();
}

SLUICE_DECL void stream_impl::after_progress() {
    stream_ext& x = *ext_;
    if (x.on_drain && x.buffered <= x.limits.low_watermark) {
        unique_function<void()> cb = std::move(x.on_drain); // one-shot
        cb();
    }
    if (closed()) return;
    if (x.on_flushed && x.queue.empty()) {
        unique_function<void()> cb = std::move(x.on_flushed); // one-shot
        cb();
        if (closed()) return;
    }
    if (x.queue.empty()) queue_drained();
    if (!closed()) update_interest();
}

SLUICE_DECL void stream_impl::queue_drained() {
    if (flags_ & close_after_flush) return close_with(make_error_code(error::operation_aborted));
    if ((flags_ & shutdown_requested) && !(flags_ & write_shut) && (flags_ & connected)) {
        flags_ |= write_shut;
        platform::shutdown_write(fd_);
    }
}

SLUICE_DECL std::uint64_t stream_impl::refuse(io_handler&& done, std::error_code ec) {
    loop_->complete(std::move(done), ec, 0);
    fail(ec);
    return 0;
}

SLUICE_DECL void stream_impl::fail(std::error_code ec) {
    if (closed()) return;
    if (ext_ && ext_->tls) ext_->tls->failed = true;
    if (ext_ && ext_->on_error) loop_->complete(std::move(ext_->on_error), ec, 0);
    // An owner paused for backpressure may wait for nothing but on_drain: it runs (the
    // queue is gone), and the owner's next operation reports the failure. Without it a
    // stream that failed under backpressure kept its owner waiting for good.
    if (ext_ && ext_->on_drain) loop_->defer(std::move(ext_->on_drain));
    if (ext_ && ext_->on_flushed) loop_->defer(std::move(ext_->on_flushed));
    if (fd_ != invalid_socket && (flags_ & connected)) platform::reset_on_close(fd_);
    close_with(ec);
}

SLUICE_DECL bool stream_impl::cancel_read() {
    if (!read_cb_) return false;
    read_buf_ = nullptr;
    flags_ &= static_cast<std::uint8_t>(~continuous);
    loop_->complete(std::move(read_cb_), make_error_code(error::operation_aborted), 0);
    update_interest();
    return true;
}

SLUICE_DECL bool stream_impl::cancel_writes() {
    if (!ext_ || ext_->queue.empty()) return false;
    // A send in flight may have sent nothing (a full socket): then it may still go.
    if (ext_->queue.front().started && !(flags_ & tls_on)) settle_send();
    if (closed()) return true;
    if (ext_->queue.empty()) return false; // they completed meanwhile
    // TLS records are numbered: withdrawing any queued one is a hole the peer rejects.
    if (ext_->queue.front().started || (flags_ & tls_on)) {
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

SLUICE_DECL bool stream_impl::cancel_write(std::uint64_t id) {
    if (!ext_ || id == 0) return false;
    auto& q = ext_->queue;
    if (!(flags_ & tls_on)) { // a send in flight that carries it may have sent none of it
        for (auto it = q.begin(); it != q.end(); ++it)
            if (it->id == id && it->started) {
                settle_send();
                break;
            }
        if (closed()) return true;
    }
    for (auto it = q.begin(); it != q.end(); ++it) {
        if (it->id != id) continue;
        if (it->started || !it.last() || (flags_ & tls_on)) {
            fail(make_error_code(error::operation_aborted));
            return true;
        }
        loop_->complete(std::move(it->done), make_error_code(error::operation_aborted), 0);
        ext_->buffered -= it->left();
        q.pop_back(); // it is the last one
        if (q.empty()) queue_drained();
        if (!closed()) update_interest();
        return true;
    }
    return false;
}

SLUICE_DECL void stream_impl::shutdown_write() {
    if ((flags_ & tls_on) && !(flags_ & shutdown_requested) && ext_->tls->engine->handshake_done()) {
        ext_->tls->engine->close_notify(); // the alert goes out before the FIN
        tls_send_output();
        if (closed()) return;
    }
    flags_ |= shutdown_requested;
    if ((!ext_ || ext_->queue.empty()) && !(flags_ & write_shut) && (flags_ & connected)) {
        flags_ |= write_shut;
        platform::shutdown_write(fd_);
    }
}

SLUICE_DECL void stream_impl::begin_shutdown() {
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

SLUICE_DECL void stream_impl::start_connect(std::vector<endpoint> targets, io_handler done,
                                            const connect_options& opt) {
    connector* c = begin_connect(std::move(done), opt);
    connector_start(c, std::move(targets));
}

SLUICE_DECL void stream_impl::start_connect(std::string host, std::uint16_t port, io_handler done,
                                            const connect_options& opt) {
    connector* c = begin_connect(std::move(done), opt);
    connector_lookup(c, std::move(host), port);
}

SLUICE_DECL void stream_impl::connect_ended(bool ok) {
    flags_ &= static_cast<std::uint8_t>(~connecting);
    if (ok) flags_ |= connected;
    connector* c = std::exchange(ext_->conn, nullptr);
    delete_connector(c);
    if (!closed()) update_interest();
}

SLUICE_DECL bool stream_impl::cancel_connect(std::error_code reason) {
    if (!(flags_ & connecting) || !ext_ || !ext_->conn) return false;
    connector_cancel(ext_->conn, reason);
    return true;
}

SLUICE_DECL void stream_impl::drop_socket() {
    loop_->unwatch_now(this);
    loop_->closing(fd_);
    platform::close_socket(fd_);
    fd_ = invalid_socket;
}

SLUICE_DECL void stream_impl::arm_timeouts() {
    stream_ext& x = *ext_;
    std::int64_t shortest = (std::numeric_limits<std::int64_t>::max)();
    for (std::int64_t t : {x.idle_us, x.read_us, x.write_us})
        if (t > 0 && t < shortest) shortest = t;
    if (shortest == (std::numeric_limits<std::int64_t>::max)()) return loop_->unschedule(&x);
    if (!x.queued()) loop_->schedule(&x, loop::clock_us() + shortest);
}

SLUICE_DECL void stream_impl::check_timeouts() {
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

SLUICE_DECL void stream_impl::close_with(std::error_code reason) {
    if (closed()) return;
    if (ext_ && ext_->tls) tls_closing(reason);
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
        if (ext_->on_flushed) loop_->release_later(std::move(ext_->on_flushed));
    }
    flags_ = 0;
    loop_->count_stream(false);
    loop_->retire(this);
}

SLUICE_DECL connector* stream_impl::begin_connect(io_handler done, const connect_options& opt) {
    flags_ |= connecting;
    stream_ext& x = ext();
    x.conn = make_connector(*this, std::move(done), opt);
    return x.conn;
}

} // namespace sluice::detail
