// sluice — connected byte streams (TCP and Unix domain): the operations tcp_stream and
// unix_stream share. How they work inside the loop (reads, the write queue, why a
// stream fails rather than leave a hole) is in stream_impl.hpp.
#pragma once

#include <sluice/handles/stream_impl.hpp>

namespace sluice {

// Operations common to TCP and Unix streams.
class stream : public detail::basic_handle<detail::stream_impl> {
  public:
    using basic_handle::basic_handle;

    // Reads at most buf.size bytes into buf: handler(ec, n). End of stream is
    // error::eof. One read at a time; a second one fails with error::in_progress.
    void read_some(mutable_buffer buf, io_handler handler) {
        if (auto ec = unusable()) return fail(std::move(handler), ec);
        if (impl_->read_cb_) return fail(std::move(handler), make_error_code(error::in_progress));
        impl_->start_read(static_cast<char*>(buf.data), buf.size, std::move(handler), false);
    }

    // Reads continuously into the loop's shared buffer: handler(ec, data) per chunk,
    // until read_stop(), an error or end of stream (error::eof). `data` is valid only
    // during the call. A subscription: read_stop() ends it without a call; a close or an
    // error ends it with one last call carrying the error.
    template <class H>
    void read_start(H&& handler) {
        // The loop outlives every call of this handler (rule 4), so a plain pointer to it
        // is safe here, where one to the stream would not be.
        io_handler wrapped = [h = std::forward<H>(handler),
                              lp = impl_ ? impl_->loop_ : nullptr](std::error_code ec,
                                                                   std::size_t n) mutable {
            h(ec, ec ? std::string_view() : std::string_view(lp->read_data(), n));
        };
        if (auto ec = unusable()) return fail(std::move(wrapped), ec);
        if (impl_->read_cb_) return fail(std::move(wrapped), make_error_code(error::in_progress));
        impl_->start_read(nullptr, 0, std::move(wrapped), true);
    }
    // Ends read_start() silently (its handler is released from the loop, uncalled); a
    // pending read_some() completes with operation_aborted instead.
    void read_stop() {
        if (impl_ && !impl_->closed() && impl_->loop_) impl_->stop_read();
    }
    // Cancels a pending read (read_some or read_start): its handler gets
    // operation_aborted (from the loop, once). Returns false when no read was pending
    // (a completion already queued still runs).
    bool cancel_read() { return !unusable() && impl_->cancel_read(); }
    // Cancels every queued write: each handler gets operation_aborted. When some bytes
    // of the first one have already gone out, the rest cannot be withdrawn without a
    // hole in the stream, so the stream fails (closed with a reset; rule 5).
    bool cancel_write() { return !unusable() && impl_->cancel_writes(); }
    // The coroutine layer's write (one buffer): returns an id for cancel_write(id), or 0
    // when the write completed (or failed) at once.
    std::uint64_t write_with_id(const_buffer data, io_handler handler) {
        if (auto ec = unusable()) {
            fail(std::move(handler), ec);
            return 0;
        }
        return impl_->write(&data, 1, std::move(handler), nullptr);
    }
    // Cancels that one write: withdrawn (its handler gets operation_aborted) when none of
    // its bytes went out and no write is queued behind it; otherwise the stream fails.
    // False when it is no longer queued.
    bool cancel_write(std::uint64_t id) { return !unusable() && impl_->cancel_write(id); }
    // Cancels a connect in progress (name lookup or attempts): the handler gets
    // operation_aborted and the stream may connect again.
    bool cancel_connect() {
        return !unusable() && impl_->cancel_connect(make_error_code(error::operation_aborted));
    }

    // Sends all the bytes, in order with every other write: handler(ec, n) once they
    // are all handed to the kernel (optional). Copies only what cannot be sent now.
    // A write the stream must refuse fails the stream (see the top of this file).
    void write(const_buffer data, io_handler handler = nullptr) {
        write_impl(&data, 1, std::move(handler));
    }
    void write(std::string_view data, io_handler handler = nullptr) {
        const_buffer b(data);
        write_impl(&b, 1, std::move(handler));
    }
    void write(const const_buffer* bufs, std::size_t count, io_handler handler = nullptr) {
        write_impl(bufs, count, std::move(handler));
    }
    // Zero-copy for data shared between many streams (broadcast): queues a reference.
    void write(shared_bytes data, io_handler handler = nullptr) {
        if (auto ec = unusable()) return fail(std::move(handler), ec);
        const_buffer b(data.data(), data.size());
        impl_->write(&b, 1, std::move(handler), &data);
    }

    // Called once, from the loop, if the stream fails: a refused write, a send error, a
    // timeout, a cancelled write that had started. Not called when you close it.
    void on_error(unique_function<void(std::error_code)> cb) {
        if (unusable()) return;
        detail::stream_ext& x = impl_->ext();
        impl_->loop_->release_later(std::move(x.on_error));
        if (cb) x.on_error = detail::ec_only(std::move(cb));
    }

    // Zero-copy file bytes (Linux sendfile(2); see SLUICE_HAS_SENDFILE): up to `n` bytes of
    // the open file `file_fd` from `offset`, handed straight to the socket, only when no
    // write is queued, so they follow every byte written before and nothing can come
    // between. Returns the count the kernel took; 0 when it takes nothing now (bytes are
    // queued, the socket is full, the stream is not connected or is TLS, or no sendfile here): write
    // those bytes instead, or try later. A send error (or a file that cannot be sent
    // from) fails the stream, as a failed write does, and returns -1.
    long long send_file_now(int file_fd, std::uint64_t offset, std::size_t n) {
        return unusable() ? 0 : impl_->send_file_now(file_fd, offset, n);
    }

    // Bytes accepted by write() and not yet handed to the kernel.
    std::size_t buffered_amount() const noexcept {
        return impl_ && impl_->ext_ ? impl_->ext_->buffered : 0;
    }
    void set_write_limits(const write_limits& limits) {
        if (impl_) impl_->ext().limits = limits;
    }
    // True once the queue holds at least the high watermark: time to stop producing.
    // An empty queue is never high, whatever the watermark (a high watermark of 0 means
    // "any byte queued").
    bool write_queue_high() const noexcept {
        return impl_ && impl_->ext_ && impl_->ext_->buffered != 0 &&
               impl_->ext_->buffered >= impl_->ext_->limits.high_watermark;
    }
    // One-shot: cb() once the queue is at or below the low watermark — on the next
    // loop turn if it already is. Typical use: stop reading when write_queue_high(),
    // resume from on_drain(). Replaces a previous callback (an empty one just clears
    // it); dropped on close.
    void on_drain(unique_function<void()> cb) {
        if (unusable()) return;
        if (!cb) { // forget a callback set earlier
            if (impl_->ext_ && impl_->ext_->on_drain)
                impl_->loop_->release_later(std::move(impl_->ext_->on_drain));
            return;
        }
        detail::stream_ext& x = impl_->ext();
        if (x.buffered <= x.limits.low_watermark) {
            if (x.on_drain) impl_->loop_->release_later(std::move(x.on_drain));
            impl_->loop_->defer([s = impl_, cb = std::move(cb)]() mutable {
                if (!s->closed()) cb();
            });
        } else {
            x.on_drain = std::move(cb);
        }
    }

    // One-shot: cb() once no byte is queued (all handed to the kernel) — on the next loop
    // turn if none is. For send_file_now(), which waits for an empty queue. Replaces a
    // previous callback; dropped on close; run on failure, as on_drain is.
    void on_flushed(unique_function<void()> cb) {
        if (unusable()) return;
        detail::stream_ext& x = impl_->ext();
        if (x.on_flushed) impl_->loop_->release_later(std::move(x.on_flushed));
        if (!cb) return;
        if (x.buffered == 0) {
            impl_->loop_->defer([s = impl_, cb = std::move(cb)]() mutable {
                if (!s->closed()) cb();
            });
        } else {
            x.on_flushed = std::move(cb);
        }
    }
    // Half-close: sends FIN once queued writes are flushed; reading continues. A write
    // after it fails the stream.
    void shutdown_write() {
        if (!unusable()) impl_->shutdown_write();
    }
    // Closes after queued writes are flushed (pending reads are aborted now).
    void close_after_flush() {
        if (unusable()) return;
        if (impl_->ext_ && !impl_->ext_->queue.empty())
            impl_->begin_shutdown();
        else
            close();
    }

    // Timeouts fail the stream with error::timed_out (pending operations get it):
    // idle = no byte read or written for that long; read = a pending read got no data
    // for that long; write = queued bytes made no progress for that long. Zero: off.
    template <class Rep, class Period>
    void set_timeouts(std::chrono::duration<Rep, Period> idle,
                      std::chrono::duration<Rep, Period> read,
                      std::chrono::duration<Rep, Period> write) {
        if (unusable()) return;
        auto us = [](auto d) {
            return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
        };
        detail::stream_ext& x = impl_->ext();
        x.idle_us = us(idle);
        x.read_us = us(read);
        x.write_us = us(write);
        x.last_activity = x.read_started = x.write_progress = impl_->loop_->now_us();
        impl_->loop_->unschedule(&x);
        impl_->arm_timeouts();
    }

    bool connected() const noexcept {
        return impl_ && (impl_->flags_ & detail::stream_impl::connected);
    }

    endpoint local_endpoint(std::error_code& ec) const {
        return platform::local_endpoint(native_handle(), ec);
    }
    endpoint remote_endpoint(std::error_code& ec) const {
        return platform::remote_endpoint(native_handle(), ec);
    }

  protected:
    explicit stream(loop& l) : basic_handle(new detail::stream_impl(l)) { l.adopt(impl_.get()); }

    void write_impl(const const_buffer* bufs, std::size_t count, io_handler&& handler) {
        if (auto ec = unusable()) return fail(std::move(handler), ec);
        impl_->write(bufs, count, std::move(handler), nullptr);
    }

    // Why a connect cannot start: the handle is unusable, or it is connecting or
    // connected already (a second connect disturbs nothing).
    std::error_code cannot_connect() const noexcept {
        if (auto ec = unusable()) return ec;
        if (impl_->flags_ & detail::stream_impl::connecting)
            return make_error_code(error::in_progress);
        if ((impl_->flags_ & detail::stream_impl::connected) || impl_->fd_ != invalid_socket)
            return make_error_code(error::already_open);
        return {};
    }

    template <class H>
    void connect_to(std::vector<endpoint> targets, H&& handler, const connect_options& opt) {
        io_handler h = detail::ec_only(std::forward<H>(handler));
        if (auto ec = cannot_connect()) return fail(std::move(h), ec);
        impl_->start_connect(std::move(targets), std::move(h), opt);
    }
};

} // namespace sluice
