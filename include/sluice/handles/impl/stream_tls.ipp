// sluice — out-of-line bodies of the TLS filter of stream_impl (stream_impl.hpp): ciphertext
// read from the socket goes into the engine, plaintext comes out into the stash that the
// stream's reads already take bytes from; plaintext written is encrypted, and the
// ciphertext takes the ordinary write path (queue, watermarks, cap, failure rules).
// Compiled in every translation unit when header-only, only in the SLUICE_IMPLEMENTATION one
// under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/stream_impl.hpp>

namespace sluice::detail {

SLUICE_DECL void stream_impl::start_tls(std::unique_ptr<tls::engine> e,
                                        std::shared_ptr<tls::context> owner, io_handler done,
                                        std::int64_t timeout_us) {
    stream_ext& x = ext();
    x.tls.reset(new tls_filter());
    x.tls->engine = std::move(e);
    x.tls->owner = std::move(owner);
    x.tls->handshake_done = std::move(done);
    flags_ |= tls_on;
    // The handshake reads on its own while handshake_done is pending (handshaking()): a
    // read the owner started, stopped or cancelled meanwhile is about plaintext only.
    // The handshake timeout is the idle timeout while it runs: a peer that stalls
    // mid-handshake fails the stream with error::timed_out.
    x.tls->saved_idle_us = x.idle_us;
    if (timeout_us > 0) {
        x.idle_us = timeout_us;
        x.last_activity = loop_->now_us();
        arm_timeouts();
    }
    tls_ingest(nullptr, 0); // a client speaks first
}

// Both read paths (a readiness backend's recv, a completion backend's receive) kept out of
// stream_impl.ipp's do_read/on_data: a plain stream's read path then stays small enough
// for the compiler to inline it where it was before TLS (callgrind counts the difference).
SLUICE_DECL void stream_impl::tls_read_socket() {
    std::ptrdiff_t r = platform::recv_raw(fd_, loop_->shared_buffer(), loop::shared_buffer_size);
    if (r < 0 && platform::would_block_errno(static_cast<int>(-r))) return;
    if (ext_) ext_->last_activity = ext_->read_started = loop_->now_us();
    if (r > 0) return tls_ingest(loop_->shared_buffer(), static_cast<std::size_t>(r));
    tls_transport_end(static_cast<int>(-r));
}

SLUICE_DECL void stream_impl::tls_on_data(int res, const char* data) {
    if (res > 0 && ext_) ext_->last_activity = ext_->read_started = loop_->now_us();
    if (res > 0) return tls_ingest(data, static_cast<std::size_t>(res));
    tls_transport_end(-res);
}

SLUICE_DECL void stream_impl::tls_send_output() {
    tls_filter& t = *ext_->tls;
    t.cipher.clear();
    if (t.engine->take_output(t.cipher) == 0) return;
    write_cipher(t.cipher, io_handler());
}

// The ciphertext takes the plain write path: tls_on is off for that one call, so write()
// does not send it through the engine again (this keeps plain writes free of any TLS
// parameter). A failure inside closes the stream, which clears every flag anyway.
SLUICE_DECL std::uint64_t stream_impl::write_cipher(const std::string& cipher, io_handler&& done) {
    const_buffer b(cipher.data(), cipher.size());
    flags_ &= static_cast<std::uint8_t>(~tls_on);
    const std::uint64_t id = write(&b, 1, std::move(done), nullptr);
    if (!closed()) flags_ |= tls_on;
    return id;
}

SLUICE_DECL void stream_impl::tls_ingest(const char* data, std::size_t n) {
    tls_filter& t = *ext_->tls;
    t.engine->feed(data, n);
    bool just_done = false;
    if (t.handshake_done) { // still handshaking
        const tls::handshake_status st = t.engine->handshake();
        tls_send_output();
        if (closed()) return;
        if (st == tls::handshake_status::want_input) return update_interest();
        // Refused: the alert went out above; a plain close (FIN, not a reset) lets the peer
        // read it and say why. No byte of data was written, so there is no hole to signal.
        if (st == tls::handshake_status::failed) {
            t.failed = true;
            return close_with(t.engine->handshake_error());
        }
        // Done: the idle timeout is the owner's again.
        ext_->idle_us = t.saved_idle_us;
        if (ext_->idle_us == 0 && ext_->read_us == 0 && ext_->write_us == 0)
            loop_->unschedule(ext_.get());
        // The scratch kept the capacity of the handshake's largest flight (certificate,
        // signature); responses are far smaller, and an idle connection should not keep it.
        std::string().swap(t.cipher);
        loop_->complete(std::move(t.handshake_done), {}, 0);
        // Application data may have come with the handshake's last flight: decrypted
        // below and kept; a read already started gets it after the handshake's handler
        // (deferred calls run after queued completions), never before.
        just_done = true;
    }
    // Everything decryptable now goes to the stash, behind what is kept already; reading
    // pauses while it is not empty, so this is bounded by what one receive brings.
    // Decrypted on the stack, appended only as long as it is: a stash grown by a whole
    // record's size and shrunk again would be zero-filled and reallocated on every
    // receive, and an empty one would keep its capacity while the connection idles.
    std::string& st = ext_->stash;
    std::error_code ec;
    char plain[16384];
    while (const std::size_t got = t.engine->read(plain, sizeof plain, ec)) st.append(plain, got);
    tls_send_output(); // a key update answer, say
    if (closed()) return;
    if (ec == error::eof) {
        flags_ |= eof_seen; // close_notify: a clean end, after the bytes before it
    } else if (ec) {
        return fail(ec); // a record that does not authenticate: nothing after it is trusted
    }
    if (read_cb_ && (!st.empty() || (flags_ & eof_seen))) {
        if (!just_done)
            deliver_kept();
        else
            loop_->defer([s = ref<stream_impl>(this)] {
                if (!s->closed() && s->read_cb_ && (s->stashed() || (s->flags_ & eof_seen)))
                    s->deliver_kept();
            });
    }
    if (!closed()) update_interest();
}

SLUICE_DECL void stream_impl::tls_transport_end(int err) {
    tls_filter& t = *ext_->tls;
    if (err) return fail(make_error_code(tls::error::truncated)); // a reset: cut, as a FIN would be
    // A FIN: clean only after the peer's close_notify; otherwise the stream was cut (an
    // attacker can end a TCP stream, not forge the alert).
    if (t.handshake_done) return fail(make_error_code(tls::error::handshake_failed));
    if (auto cut = t.engine->transport_eof()) return fail(cut);
    flags_ |= eof_seen;
    if (read_cb_ && !stashed()) deliver_kept();
    if (!closed()) update_interest();
}

SLUICE_DECL std::uint64_t stream_impl::tls_write(const const_buffer* bufs, std::size_t count,
                                                 io_handler&& done) {
    tls_filter& t = *ext_->tls;
    // Before the handshake ends there are no keys: such a write is refused (it would
    // otherwise have to wait, out of order with the handshake's own bytes).
    if (t.handshake_done) return refuse(std::move(done), make_error_code(error::in_progress));
    if (flags_ & (shutdown_requested | write_shut))
        return refuse(std::move(done), std::make_error_code(std::errc::broken_pipe));
    std::size_t plain = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (auto ec = t.engine->write(static_cast<const char*>(bufs[i].data), bufs[i].size))
            return refuse(std::move(done), ec);
        plain += bufs[i].size;
    }
    t.cipher.clear();
    t.engine->take_output(t.cipher);
    // The handler hears the plaintext size it wrote, not the ciphertext's.
    io_handler reported;
    if (done)
        reported = [d = std::move(done), plain](std::error_code ec, std::size_t) mutable {
            d(ec, ec ? 0 : plain);
        };
    return write_cipher(t.cipher, std::move(reported));
}

SLUICE_DECL void stream_impl::tls_closing(std::error_code reason) {
    tls_filter& t = *ext_->tls;
    if (t.handshake_done) {
        loop_->complete(std::move(t.handshake_done), reason, 0);
        return;
    }
    // A close by the owner says goodbye with close_notify, so the peer can tell it from a
    // cut; best effort (the socket closes now), and only when nothing else is queued,
    // which it would otherwise follow a partial record.
    if (t.failed || reason != error::operation_aborted || !(flags_ & tls_on) ||
        fd_ == invalid_socket || !(flags_ & connected) || (!ext_->queue.empty()))
        return;
    t.engine->close_notify();
    t.cipher.clear();
    if (t.engine->take_output(t.cipher))
        (void)platform::send_raw(fd_, t.cipher.data(), t.cipher.size());
}

} // namespace sluice::detail
