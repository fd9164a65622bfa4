// sluice — out-of-line bodies of sluice/ws/connection.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/connection.hpp>

#include <algorithm>

namespace sluice {
namespace ws {

SLUICE_DECL std::error_code prepare(opcode op, const void* data, std::size_t n,
                                    prepared_message& out) {
    if (op != opcode::text && op != opcode::binary) return error::unknown_opcode;
    if (op == opcode::text && !util::is_valid_utf8(data, n)) return error::invalid_utf8;
    frame_header fh;
    fh.op = op;
    fh.length = n;
    const std::size_t hl = header_size(n, false);
    std::string tmp(hl + n, '\0');
    write_frame(reinterpret_cast<std::uint8_t*>(&tmp[0]), fh, data, n);
    out.op = op;
    out.frame = shared_bytes(tmp.data(), tmp.size());
    return {};
}
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {
namespace detail {

SLUICE_DECL void shared_state::drop_handlers() {
    handlers gone(std::move(h)); // destroyed after h is reset: their captures may
    h = handlers{};              // hold the last reference to a connection, or to this
}

SLUICE_DECL conn_impl::~conn_impl() {
    if (queued() && sh_->lp) sh_->lp->unschedule(this);
    delete stash_;
    if (extras_) unsubscribe_all(); // normally done by finish()
    delete extras_;
}

SLUICE_DECL std::error_code conn_impl::send(opcode op, const void* p, std::size_t n) {
    if (!open_ || codec_.close_sent() || !stream_.is_open()) return error::closed;
    if (over_limit(codec_.encoded_size(n))) return refuse_send();
    std::uint8_t head[max_header_size];
    std::size_t hl = 0;
    std::error_code ec = codec_.encode_header(op, p, n, head, hl);
    if (!ec) {
        const_buffer b[2] = {const_buffer(head, hl), const_buffer(p, n)};
        stream_.write(b, n ? 2 : 1);
        return {};
    }
    if (ec != error::buffer_too_small) return ec;
    // Masked (client) or fragmented: the payload must be transformed, into the
    // endpoint's scratch buffer (write() copies only what the kernel does not take).
    std::string& out = scratch();
    ec = codec_.encode_message(op, p, n, out);
    if (!ec) stream_.write(std::string_view(out));
    if (out.capacity() > (std::size_t{1} << 20)) std::string().swap(out); // not kept
    return ec;
}

SLUICE_DECL std::error_code conn_impl::send(const prepared_message& pm) {
    if (!open_ || codec_.close_sent() || !stream_.is_open()) return error::closed;
    if (codec_.get_role() != role::server) return error::masked_frame; // must be masked
    if (std::error_code ec = codec_.can_start_message(pm.op)) return ec;
    if (over_limit(pm.frame.size())) return refuse_send();
    stream_.write(pm.frame);
    return {};
}

SLUICE_DECL std::error_code conn_impl::control(opcode op, std::string_view payload) {
    if (!open_) return error::closed;
    std::string& out = scratch();
    std::error_code ec =
        op == opcode::ping ? codec_.encode_ping(payload, out) : codec_.encode_pong(payload, out);
    if (!ec) stream_.write(std::string_view(out));
    return ec;
}

SLUICE_DECL std::error_code conn_impl::close(std::uint16_t code, std::string_view reason) {
    if (!open_) return error::closed;
    std::string& out = scratch();
    std::error_code ec = codec_.encode_close(code, reason, out);
    if (ec) return ec;
    stream_.write(std::string_view(out));
    if (codec_.close_received() && codec_.get_role() == role::server) {
        // Our answer to the peer's close (sent from its on_close): the handshake is done.
        finish();
        linger();
    } else {
        start_closing();
    }
    return {};
}

SLUICE_DECL void conn_impl::abort(std::error_code why) {
    if (!open_) return;
    conn_ref k(this);
    report(close_code::abnormal, {}, why);
    stream_.close();
    finish();
}

SLUICE_DECL void conn_impl::fail_handshake(std::error_code ec) {
    // Its one caller (dial::finish) holds a counted reference through this call; a second
    // one here is what GCC 12 at -O3 takes for a use after free.
    report(close_code::abnormal, {}, ec);
    stream_.close();
}

SLUICE_DECL void conn_impl::end_by_owner() {
    if (!open_) return;
    conn_ref k(this);
    owner_gone_ = true;
    if (!reported_) close_code_ = close_code::going_away;
    reported_ = true;
    if (!codec_.close_sent()) {
        std::string& out = scratch();
        if (!codec_.encode_close(close_code::going_away, {}, out))
            stream_.write(std::string_view(out));
    }
    stream_.close();
    finish();
}

SLUICE_DECL void conn_impl::drop_silently() noexcept {
    if (!open_) return;
    // No stack reference: the open list's keeps this alive until finish() drops it,
    // last (GCC 12 takes a nested counted reference for a use after free at -O3).
    reported_ = true;
    if (message_reader* r = std::exchange(reader_, nullptr)) r->on_dropped();
    if (extras_)
        if (drain_waiter* w = std::exchange(extras_->waiter, nullptr)) w->on_dropped();
    stream_.close();
    finish();
}

SLUICE_DECL void conn_impl::pause() {
    paused_ = true;
    codec_.pause(); // stops a consume() in progress after the current event
    if (!in_feed_) stop_reading();
}

SLUICE_DECL void conn_impl::resume() {
    paused_ = false;
    codec_.resume();
    pump();
}

SLUICE_DECL std::error_code conn_impl::cannot_read() const noexcept {
    if (!sh_->lp) return make_error_code(sluice::error::loop_gone);
    if (reader_) return make_error_code(sluice::error::in_progress);
    return {};
}

SLUICE_DECL std::error_code conn_impl::read(message_reader* r) {
    if (std::error_code ec = cannot_read()) return ec;
    reader_ = r;
    if (!open_) {
        complete_reader_later();
        return {};
    }
    if (!paused_) codec_.resume();
    if (!in_feed_) pump();
    return {};
}

SLUICE_DECL void conn_impl::cancel_read(message_reader* r) noexcept {
    if (reader_ != r) return;
    reader_ = nullptr;
    // Pulled and nobody reading: hold input back rather than deliver it to no one.
    if (open_ && pull_mode() && !closing_) {
        codec_.pause();
        if (!in_feed_) stop_reading();
    }
}

SLUICE_DECL std::string& conn_impl::scratch() noexcept {
    sh_->scratch.clear();
    return sh_->scratch;
}

// Room above write.hard_cap on the stream itself, so that a close frame or a pong is never
// refused by the stream (which would fail the connection) when data filled the cap.
// (An enumerator, not a variable: nothing is emitted for it in a unit that does not use it.)
enum : std::size_t { control_room = 4096 };

SLUICE_DECL std::size_t conn_impl::send_limit() const noexcept {
    const settings& c = sh_->cfg;
    return c.send_limit && c.send_limit < c.write.hard_cap ? c.send_limit : c.write.hard_cap;
}

SLUICE_DECL std::size_t conn_impl::low_mark() const noexcept {
    const write_limits& w = sh_->cfg.write;
    return std::min(w.low_watermark, std::min(w.high_watermark, send_limit()));
}

SLUICE_DECL void conn_impl::apply_limits() {
    const write_limits& w = sh_->cfg.write;
    write_limits eff;
    eff.high_watermark = std::min(w.high_watermark, send_limit());
    eff.low_watermark = low_mark();
    eff.hard_cap = w.hard_cap > SIZE_MAX - control_room ? SIZE_MAX : w.hard_cap + control_room;
    stream_.set_write_limits(eff);
}

// Refused: the queue is at the send limit already (a message is never split, so one that
// starts below the limit is queued whole: the queue stays under limit + one message), or
// the message would take it past write.hard_cap.
SLUICE_DECL bool conn_impl::over_limit(std::size_t more) noexcept {
    const std::size_t have = stream_.buffered_amount(), cap = sh_->cfg.write.hard_cap;
    if (limit_hit_ && have <= low_mark()) limit_hit_ = false; // drained since
    return have >= send_limit() || more > cap || have > cap - more;
}

SLUICE_DECL std::error_code conn_impl::refuse_send() {
    limit_hit_ = true;
    if (sh_->cfg.on_send_limit == send_limit_policy::close)
        (void)close(close_code::policy_violation, "send limit exceeded");
    return make_error_code(sluice::error::write_queue_full);
}

SLUICE_DECL void conn_impl::on_drain(unique_function<void()> cb) {
    if (!cb && !extras_) return;
    conn_extras& x = extras();
    if (x.on_drain && sh_->lp) sh_->lp->release_later(std::move(x.on_drain)); // replaced
    x.on_drain = std::move(cb);
    if (x.on_drain) arm_drain();
}

SLUICE_DECL std::error_code conn_impl::wait_drain(drain_waiter* w) {
    if (!sh_->lp) return make_error_code(sluice::error::loop_gone);
    conn_extras& x = extras();
    if (x.waiter) return make_error_code(sluice::error::in_progress);
    x.waiter = w;
    if (!open_) {
        if (!x.waiter_queued) {
            x.waiter_queued = true;
            sh_->lp->defer(waiter_completion(this));
        }
        return {};
    }
    arm_drain();
    return {};
}

SLUICE_DECL void conn_impl::cancel_drain(drain_waiter* w) noexcept {
    if (extras_ && extras_->waiter == w) extras_->waiter = nullptr;
}

SLUICE_DECL void conn_impl::arm_drain() {
    // The stream's one-shot slot belongs to the connection: it tells both waiters. A
    // re-arm replaces the previous lambda, which only held a reference.
    stream_.on_drain([k = conn_ref(this)] { k->drained(); });
}

SLUICE_DECL void conn_impl::drained() {
    // A failed stream runs its drain callback too (so that a producer paused for
    // backpressure wakes up): that is the end of the connection, which finish() reports.
    if (!open_ || !extras_ || !stream_.is_open()) return;
    limit_hit_ = false;
    conn_ref k(this);
    unique_function<void()> cb = std::move(extras_->on_drain);
    drain_waiter* w = std::exchange(extras_->waiter, nullptr);
    if (cb) cb();
    if (w) w->on_drained({});
}

SLUICE_DECL conn_extras& conn_impl::extras() {
    if (!extras_) extras_ = new conn_extras();
    return *extras_;
}

SLUICE_DECL std::error_code conn_impl::subscribe(std::string_view topic) {
    if (!open_) return error::closed;
    if (topic.empty() || topic.size() > sh_->cfg.max_topic_size) return error::topic_too_long;
    if (subscribed(topic)) return {};
    conn_extras& x = extras();
    if (x.sub_count >= sh_->cfg.max_topics) return error::too_many_topics;
    subscription* s = sh_->topics.add(this, topic);
    s->next_of_conn = x.subs;
    x.subs = s;
    ++x.sub_count;
    return {};
}

SLUICE_DECL bool conn_impl::unsubscribe(std::string_view topic) noexcept {
    if (!extras_) return false;
    for (subscription** at = &extras_->subs; *at; at = &(*at)->next_of_conn) {
        subscription* s = *at;
        if (s->topic->name != topic) continue;
        *at = s->next_of_conn;
        --extras_->sub_count;
        sh_->topics.remove(s);
        return true;
    }
    return false;
}

SLUICE_DECL bool conn_impl::subscribed(std::string_view topic) const noexcept {
    if (!extras_) return false;
    for (const subscription* s = extras_->subs; s; s = s->next_of_conn)
        if (s->topic->name == topic) return true;
    return false;
}

SLUICE_DECL void conn_impl::unsubscribe_all() noexcept {
    if (!extras_) return;
    while (subscription* s = extras_->subs) {
        extras_->subs = s->next_of_conn;
        sh_->topics.remove(s);
    }
    extras_->sub_count = 0;
}

SLUICE_DECL void conn_impl::pump() {
    if (!wants_input()) return;
    if (stash_ && !stash_->empty()) {
        if (feed_scheduled_) return;
        feed_scheduled_ = true;
        sh_->lp->defer([k = conn_ref(this)] { k->feed_held(); });
        return;
    }
    if (!reading_) start_reading();
}

SLUICE_DECL void conn_impl::feed_held() {
    feed_scheduled_ = false;
    if (open_ && wants_input() && stash_ && !stash_->empty()) {
        std::string held = std::move(*stash_);
        stash_->clear();
        feed(&held[0], held.size());
        if (open_) pump();
    }
}

SLUICE_DECL void conn_impl::start_reading() {
    reading_ = true;
    stream_.read_start(
        [k = conn_ref(this)](std::error_code ec, std::string_view d) { k->on_read(ec, d); });
}

SLUICE_DECL void conn_impl::stop_reading() {
    if (!reading_) return;
    reading_ = false;
    stream_.read_stop();
}

SLUICE_DECL void conn_impl::on_read(std::error_code ec, std::string_view d) {
    conn_ref k(this);
    if (draining_) {
        if (ec) end_linger();
        return; // after the close: discarded
    }
    if (ec) {
        reading_ = false;
        if (!open_) return;
        // The peer closed or the transport failed. After a complete close handshake
        // this is the normal end (the client waits for the server's FIN).
        if (!(codec_.close_sent() && codec_.close_received())) report(close_code::abnormal, {}, ec);
        stream_.close();
        return finish();
    }
    if (!open_) return; // a chunk delivered after the end (the stream stops soon)
    last_rx_ = sh_->lp->now_us();
    ping_out_ = false;
    // The loop's read buffer is writable: the codec unmasks in place.
    feed(const_cast<char*>(d.data()), d.size());
    if (open_ && !wants_input()) stop_reading();
}

SLUICE_DECL void conn_impl::feed(char* data, std::size_t n) {
    in_feed_ = true;
    std::uint8_t* p = reinterpret_cast<std::uint8_t*>(data);
    std::vector<std::uint8_t> pool;
    if (!sh_->spares.empty()) {
        pool.swap(sh_->spares.back());
        sh_->spares.pop_back();
    }
    // Pulled with no reader: hold everything back (nobody would get a message).
    if (!paused_ && pull_mode() && !reader_ && !closing_) codec_.pause();
    auto r = codec_.consume(
        p, n, [this](const event& ev) { on_event(ev); }, &pool);
    if (pool.capacity() != 0 && sh_->spares.size() < shared_state::max_spares)
        sh_->spares.push_back(std::move(pool));
    in_feed_ = false;
    if (open_ && r.consumed < n) {
        // Paused (by pause() or a pull with no reader): keep the rest for later.
        if (!stash_) stash_ = new std::string;
        stash_->append(data + r.consumed, n - r.consumed);
    }
    if (open_ && !paused_ && pull_mode() && !reader_ && !closing_) codec_.pause();
}

SLUICE_DECL void conn_impl::on_event(const event& ev) {
    // Ended from a handler (abort(), the server destroyed) during this feed: the codec
    // stops after this event; deliver nothing more.
    if (!open_ && ev.type != event_type::send) return;
    switch (ev.type) {
    case event_type::message:
    case event_type::fragment: {
        message m{ev.op, ev.view(), ev.fin};
        if (message_reader* r = std::exchange(reader_, nullptr)) {
            r->on_message(&m, {});
            if (!reader_ && pull_mode() && !closing_) codec_.pause(); // none wanted yet
        } else if (sh_->h.on_message) {
            with_handle([&](connection& c) { sh_->h.on_message(c, m); });
        }
        break;
    }
    case event_type::ping:
        if (sh_->h.on_ping) with_handle([&](connection& c) { sh_->h.on_ping(c, ev.view()); });
        break;
    case event_type::pong:
        if (sh_->h.on_pong) with_handle([&](connection& c) { sh_->h.on_pong(c, ev.view()); });
        break;
    case event_type::close:
        report(ev.code, ev.view(), {});
        if (codec_.get_role() == role::client) start_closing(); // wait for the server's FIN
        break;
    case event_type::send:
        stream_.write(const_buffer(ev.data, ev.size));
        break;
    case event_type::fail:
        report(ev.code, {}, ev.ec);
        break;
    case event_type::disconnect:
        finish();
        linger(); // the server closes first (RFC 6455 §7.1.1)
        break;
    }
}

SLUICE_DECL void conn_impl::report(std::uint16_t code, std::string_view reason,
                                   std::error_code ec) {
    if (reported_) return;
    reported_ = true;
    close_code_ = code;
    close_status st{code, reason, ec};
    if (sh_->h.on_close) with_handle([&](connection& c) { sh_->h.on_close(c, st); });
}

SLUICE_DECL void conn_impl::start_closing() {
    if (closing_) return;
    closing_ = true;
    if (!paused_) codec_.resume();
    pump(); // the peer's answer must be read even in pull mode with no reader
    rearm(sh_->lp->now_us() + us(sh_->cfg.close_timeout));
}

SLUICE_DECL void conn_impl::finish() {
    if (!open_) return;
    // No stack `ref` here: the open reference is dropped last, so `this` lives through it
    // (and GCC 12 reports nested counted references as use-after-free).
    open_ = false;
    codec_.pause(); // a consume() in progress stops after the current event
    stop_reading();
    if (queued()) sh_->lp->unschedule(this);
    if (prev)
        prev->next = next;
    else if (sh_->first == this)
        sh_->first = next;
    if (next) next->prev = prev;
    prev = next = nullptr;
    --sh_->open;
    delete stash_;
    stash_ = nullptr;
    held_.reset(); // e.g. the HTTP server's connection slot
    if (stream_.is_open()) stream_.on_error({}); // its reference to this
    if (extras_) {
        unsubscribe_all();
        // The application's data ends with the connection, after on_close has seen it;
        // moved out first, so its destructor finds the connection without it.
        std::unique_ptr<data_box> gone = std::move(extras_->data);
        if (extras_->on_drain && sh_->lp) sh_->lp->release_later(std::move(extras_->on_drain));
        if (extras_->waiter && !extras_->waiter_queued && sh_->lp) {
            extras_->waiter_queued = true;
            sh_->lp->defer(waiter_completion(this));
        }
    }
    complete_reader_later();
    drop_ref(); // the open list's reference: last, may free this
}

SLUICE_DECL void conn_impl::complete_reader_later() {
    if (!reader_ || reader_queued_ || !sh_->lp) return;
    reader_queued_ = true;
    sh_->lp->defer(reader_completion(this));
}

SLUICE_DECL void conn_impl::linger() {
    draining_ = true;
    stream_.shutdown_write();
    start_reading();
    rearm(sh_->lp->now_us() + us(sh_->cfg.close_timeout));
}

SLUICE_DECL void conn_impl::end_linger() {
    if (!draining_) return;
    draining_ = false;
    if (queued()) sh_->lp->unschedule(this);
    reading_ = false;
    stream_.close(); // drops the read handler, and with it this object's last use
}

SLUICE_DECL std::int64_t conn_impl::next_deadline(std::int64_t now) const noexcept {
    const settings& c = sh_->cfg;
    std::int64_t d = INT64_MAX;
    if (c.ping_interval.count() > 0) d = (ping_out_ ? now : last_rx_) + us(c.ping_interval);
    if (c.idle_timeout.count() > 0 && last_rx_ + us(c.idle_timeout) < d)
        d = last_rx_ + us(c.idle_timeout);
    return d;
}

SLUICE_DECL void conn_impl::rearm(std::int64_t d) {
    if (d == INT64_MAX) return;
    if (queued()) sh_->lp->unschedule(this);
    sh_->lp->schedule(this, d);
}

SLUICE_DECL void conn_impl::on_timer() {
    if (draining_) return end_linger();
    if (!open_) return;
    conn_ref k(this);
    const std::int64_t now = sh_->lp->now_us();
    if (closing_) { // the close handshake did not complete in time
        report(close_code::abnormal, {}, make_error_code(sluice::error::timed_out));
        stream_.close();
        return finish();
    }
    const settings& c = sh_->cfg;
    if (c.idle_timeout.count() > 0 && now >= last_rx_ + us(c.idle_timeout)) {
        close(close_code::going_away, "idle timeout");
        return;
    }
    if (c.ping_interval.count() > 0 && !ping_out_ && now >= last_rx_ + us(c.ping_interval)) {
        ping_out_ = true;
        control(opcode::ping, {});
    }
    rearm(next_deadline(now));
}
} // namespace detail
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {

SLUICE_DECL endpoint connection::remote_endpoint(std::error_code& ec) const {
    if (!c_) {
        ec = make_error_code(error::closed);
        return {};
    }
    return c_->stream().remote_endpoint(ec);
}
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {
namespace detail {

SLUICE_DECL void shared_state::on_loop_exit() noexcept {
    sluice::detail::ref<shared_state> keep(this); // the last connection may hold the last one
    while (first) first->drop_silently();
    lp = nullptr;
}

SLUICE_DECL void shared_state::end_for_owner() {
    sluice::detail::ref<shared_state> keep(this);
    while (first) first->end_by_owner();
    // No handler runs again (every connection has ended), but one may be running now: the
    // owner can be destroyed from its own handler. So the handlers go from the loop, or
    // with it (a loop destroyed first drops this call, and the handlers with it).
    struct handler_release {
        sluice::detail::ref<shared_state> s;
        explicit handler_release(shared_state* x) : s(x) {}
        handler_release(handler_release&&) noexcept = default;
        void operator()() {} // the work is in the destructor: run or dropped, it happens
        ~handler_release() {
            if (s) s->drop_handlers();
        }
    };
    if (lp)
        lp->defer(handler_release(this));
    else
        drop_handlers();
}

SLUICE_DECL void conn_impl::open(std::string rest) {
    open_ = true;
    add_ref(); // the open list's reference, dropped by finish()
    last_rx_ = sh_->lp->now_us();
    next = sh_->first;
    if (next) next->prev = this;
    sh_->first = this;
    ++sh_->open;
    if (!rest.empty()) stash_ = new std::string(std::move(rest));
    // A stream that fails (a send refused by the kernel, a reset) ends the connection now,
    // even one in pull mode that is not reading and so would not hear of it otherwise.
    // The handler's reference is dropped by finish() (or run, from the loop, before it).
    stream_.on_error([k = conn_ref(this)](std::error_code ec) {
        if (k->open_) k->abort(ec);
    });
    conn_ref k(this);
    if (sh_->h.on_open) with_handle([&](connection& c) { sh_->h.on_open(c); });
    if (!open_) return;
    rearm(next_deadline(last_rx_));
    if (pull_mode() && !reader_) codec_.pause();
    pump();
}
SLUICE_DECL std::size_t publish_to(shared_state& sh, topic_entry* t, const prepared_message& pm,
                                   const conn_impl* except) {
    if (!t) return 0;
    // Sending can end a subscriber (the send limit's close policy; a close answered at
    // once), which takes it out of this topic while we walk it: walk a counted copy. The
    // copy's storage is reused by the next publish, unless this one runs inside another.
    std::vector<conn_impl*> own;
    std::vector<conn_impl*>& targets = sh.topics.scratch_busy ? own : sh.topics.scratch;
    const bool owner = !sh.topics.scratch_busy;
    sh.topics.scratch_busy = true;
    targets.reserve(t->subscribers.size());
    for (const subscription* s : t->subscribers)
        if (s->conn != except) {
            s->conn->add_ref(); // dropped below: the walk's counted copy
            targets.push_back(s->conn);
        }
    std::size_t sent = 0;
    for (conn_impl* c : targets) sent += c->send(pm) ? 0 : 1;
    for (conn_impl* c : targets) c->drop_ref();
    targets.clear();
    if (owner) sh.topics.scratch_busy = false;
    return sent;
}

} // namespace detail
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {

SLUICE_DECL std::size_t connection::publish(std::string_view topic, opcode op, const void* data,
                                            std::size_t n) const {
    if (!c_ || !c_->is_open()) return 0;
    detail::shared_state& sh = c_->shared();
    detail::topic_entry* t = sh.topics.find(topic);
    if (!t) return 0; // nobody listens: nothing to encode
    prepared_message pm;
    if (prepare(op, data, n, pm)) return 0;
    return detail::publish_to(sh, t, pm, c_.get());
}

} // namespace ws
} // namespace sluice
