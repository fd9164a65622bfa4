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
    // The handshake reads on its own: a placeholder read keeps the socket watched (and is
    // never called; the handshake's completion is handshake_done).
    read_cb_ = [](std::error_code, std::size_t) {};
    read_buf_ = nullptr;
    flags_ |= continuous;
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

SLUICE_DECL void stream_impl::tls_send_output() {
    tls_filter& t = *ext_->tls;
    t.cipher.clear();
    if (t.engine->take_output(t.cipher) == 0) return;
    const_buffer b(t.cipher.data(), t.cipher.size());
    write_raw(&b, 1, io_handler(), nullptr, t.cipher.size());
}

SLUICE_DECL void stream_impl::tls_ingest(const char* data, std::size_t n) {
    tls_filter& t = *ext_->tls;
    t.engine->feed(data, n);
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
        // Done: the placeholder read goes, the idle timeout is the owner's again.
        read_cb_ = nullptr;
        flags_ &= static_cast<std::uint8_t>(~continuous);
        ext_->idle_us = t.saved_idle_us;
        if (ext_->idle_us == 0 && ext_->read_us == 0 && ext_->write_us == 0)
            loop_->unschedule(ext_.get());
        loop_->complete(std::move(t.handshake_done), {}, 0);
        // Application data may have come with the handshake's last flight: decrypted
        // below, kept for the first read.
    }
    // Everything decryptable now goes to the stash, behind what is kept already; reading
    // pauses while it is not empty, so this is bounded by what one receive brings.
    std::string& st = ext_->stash;
    std::error_code ec;
    for (;;) {
        const std::size_t old = st.size();
        st.resize(old + 16384);
        const std::size_t got = t.engine->read(&st[old], 16384, ec);
        st.resize(old + got);
        if (got == 0) break;
    }
    tls_send_output(); // a key update answer, say
    if (closed()) return;
    if (ec == error::eof) {
        flags_ |= eof_seen; // close_notify: a clean end, after the bytes before it
    } else if (ec) {
        return fail(ec); // a record that does not authenticate: nothing after it is trusted
    }
    if (read_cb_ && (!st.empty() || (flags_ & eof_seen))) deliver_kept();
    if (!closed()) update_interest();
}

SLUICE_DECL void stream_impl::tls_transport_end(std::error_code ec) {
    tls_filter& t = *ext_->tls;
    if (ec) return fail(ec);
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
    const_buffer b(t.cipher.data(), t.cipher.size());
    return write_raw(&b, 1, std::move(done), nullptr, plain);
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
