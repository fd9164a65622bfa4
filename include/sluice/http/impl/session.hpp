// sluice — the members of an HTTP server connection that deal with streamed bodies,
// handing the connection over, timeouts and closing. Part of <sluice/http/server.hpp>;
// the states they move between are described in session.hpp.
#pragma once

#include <sluice/http/session.hpp>

#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace http {
namespace detail {

// ---- streamed bodies ----

SLUICE_DECL void server_session::dispatch_stream(response_slot* sl, const char* cur,
                                                 const char* end) {
    phase_ = phase::body_stream;
    ref<body_state> b = core_->take_body_state();
    b->default_limit = core_->settings_.max_buffered_body;
    if (msg_.has_content_length()) b->length = msg_.content_length;
    if (msg_.has_body()) {
        b->s = this;
        body_ = b;
        set(b_continue_owed, msg_.expect_continue() && cur == end);
    } else {
        b->result = make_error_code(sluice::error::eof);
        b->length = 0;
        if (msg_.upgrade()) { // what follows belongs to the next protocol
            rest_begin_ = cur;
            rest_end_ = end;
        }
    }
    ++core_->requests_;
    ref<body_state> bodiless = body_ ? nullptr : b; // to park for the next request
    {
        request_view req(msg_, std::string_view(), this);
        response res{ref<response_slot>(sl)};
        body_reader reader(std::move(b));
        server_core::stream_handler_type h = std::move(core_->stream_handler_);
        h(req, reader, res);
        if (!core_->stream_handler_ && !core_->gone_) core_->stream_handler_ = std::move(h);
    } // the reader left here gives up the body; the response unanswered: 500
    rest_begin_ = rest_end_ = nullptr;
    if (bodiless) core_->give_body_state(std::move(bodiless));
}

SLUICE_DECL ref<body_state> server_core::take_body_state() {
    body_state* b = std::exchange(spare_body_, nullptr);
    if (!b) return make_ref<body_state>(ref<server_core>(this));
    b->core = ref<server_core>(this);
    return ref<body_state>::adopt(b);
}

SLUICE_DECL void server_core::give_body_state(ref<body_state> b) noexcept {
    // Still held (a reader kept, a read's eof on its way): it is that request's alone.
    if (b->use_count() != 1 || spare_body_) return;
    // Back to a fresh state (every member, as constructed), its core reference dropped.
    body_state& s = *b;
    s.core.reset();
    s.s = nullptr;
    s.handler = nullptr;
    s.result = std::error_code();
    s.length = body_state::unknown_length;
    s.received = s.discarded = s.default_limit = s.limit = 0;
    s.all.clear();
    s.all_view = std::string_view();
    s.all_mode = s.dropped = false;
    spare_body_ = b.release(); // with the count spare_body_ owns
    free_spare_body_ = [](body_state* p) noexcept { p->drop_ref(); };
}

// A piece of a streamed body, inside a pass.
SLUICE_DECL void server_session::deliver(std::string_view d) {
    body_state& b = *body_;
    if (b.dropped) { // read and dropped, within the limit
        b.discarded += d.size();
        if (!may_discard_body()) abandon_body();
        return;
    }
    if (b.all_mode) {
        if (b.received + d.size() > b.limit) {
            phase_ = phase::answering;
            close_after_responses();
            return fail_body(make_error_code(error::body_too_large), true);
        }
        b.received += d.size();
        if (b.all.empty() && b.all_view.empty()) {
            b.all_view = d; // maybe the whole body: no copy unless another piece comes
        } else {
            if (!b.all_view.empty()) b.all.assign(b.all_view.data(), b.all_view.size());
            b.all_view = std::string_view();
            b.all.append(d.data(), d.size());
        }
        return;
    }
    // The loop stops feeding while no read is pending, so a handler is here.
    body_state::handler_type h = std::move(b.handler);
    b.received += d.size();
    if (h) h({}, d);
}

// The streamed body is complete (inside a pass): eof for its reader.
SLUICE_DECL void server_session::finish_body() {
    if (!body_) return;
    ref<body_state> b = std::move(body_);
    b->s = nullptr;
    b->result = make_error_code(sluice::error::eof);
    if (b->dropped) return;
    body_state::handler_type h = std::move(b->handler);
    if (!h) return; // the next read gets eof from the loop
    if (b->all_mode) {
        b->all_mode = false;
        std::string all = std::move(b->all);
        std::string_view v = b->all_view.empty() ? std::string_view(all) : b->all_view;
        b->all_view = std::string_view();
        h({}, v);
    } else {
        h(b->result, std::string_view());
    }
}

// The streamed body cannot be read to its end: `ec` for its reader (inline inside a
// pass, else from the loop).
SLUICE_DECL void server_session::fail_body(std::error_code ec, bool inline_ok) {
    if (!body_) return;
    ref<body_state> b = std::move(body_);
    b->s = nullptr;
    b->result = ec;
    b->all_mode = false;
    b->all.clear();
    b->all_view = std::string_view();
    set(b_continue_owed, false);
    body_state::handler_type h = std::move(b->handler);
    if (!h) return;
    if (inline_ok)
        h(ec, std::string_view());
    else
        complete_later(*core_, std::move(h), ec);
}

SLUICE_DECL void server_session::complete_later(server_core& c, body_state::handler_type h,
                                                std::error_code ec) {
    if (c.loop_) c.loop_->defer([h = std::move(h), ec]() mutable { h(ec, std::string_view()); });
}

// body_reader::read() or read_all() asked (the handler is set).
SLUICE_DECL void server_session::body_read_started() {
    body_state& b = *body_;
    if (b.all_mode && b.length != body_state::unknown_length && b.length > b.limit) {
        // Refused from its Content-Length, before any of it is read (and before the
        // client is asked for it).
        phase_ = phase::answering;
        close_after_responses();
        fail_body(make_error_code(error::body_too_large), false);
        return kick();
    }
    if (has(b_continue_owed)) {
        set(b_continue_owed, false);
        if (back_ && !back_->head_sent && !back_->finished) {
            const_buffer c(continue_100);
            emit(back_, &c, 1);
        }
    }
    kick();
}

// The body_reader is gone before the end of its body. What is already received is
// skipped (the pass that runs, or one queued for held input); if the body does not
// end there, the connection closes after its response.
SLUICE_DECL void server_session::body_dropped() {
    body_->dropped = true;
    if (body_state::handler_type h = std::move(body_->handler))
        complete_later(*core_, std::move(h), make_error_code(sluice::error::operation_aborted));
    if (has(b_in_pass)) return;
    if (part_ && !part_->raw.empty() && !has(b_need_bytes))
        schedule_pass();
    else if (!may_discard_body())
        abandon_body();
    kick(); // reads on to drop the rest, if it may
}

SLUICE_DECL bool server_session::may_discard_body() const noexcept {
    const body_state& b = *body_;
    const std::uint64_t limit = core_->settings_.max_discarded_body;
    if (b.length == body_state::unknown_length) return b.discarded <= limit; // chunked
    const std::uint64_t seen = b.received + b.discarded;
    return seen >= b.length || b.length - seen <= limit;
}

SLUICE_DECL void server_session::note_unread_body(response_slot* sl) noexcept {
    if (sl->close || phase_ != phase::body_stream || !body_ || sl != back_) return;
    const body_state& b = *body_;
    if (b.handler || b.length == body_state::unknown_length) return; // being read; unknown
    if (!may_discard_body()) sl->close = true;
}

SLUICE_DECL void server_session::abandon_body() {
    if (body_) {
        body_->s = nullptr;
        body_->result = make_error_code(sluice::error::operation_aborted);
        body_.reset();
    }
    set(b_continue_owed, false);
    phase_ = phase::answering;
    close_after_responses();
}

// ---- handing the connection over (response::take_over) ----

SLUICE_DECL bool server_session::take_over(response_slot* sl, std::string_view head,
                                           response::takeover& out) {
    if (!open() || !rest_begin_ || sl != front_ || sl != back_ || sl->head_sent || sl->finished)
        return false;
    ref<server_session> keep(this);
    // Earlier responses of this pass first, then the new protocol's head.
    if (!batch_.empty()) {
        const_buffer b(batch_);
        stream_.write(&b, 1);
        batch_.clear();
    }
    stream_.write(head);
    out.rest.assign(rest_begin_, static_cast<std::size_t>(rest_end_ - rest_begin_));
    sl->head_sent = true;
    sl->finished = true;
    set(b_reading, false);
    stream_.read_stop();
    if (has(b_drain_armed)) {
        set(b_drain_armed, false);
        stream_.on_drain(nullptr); // its callback refers to this session
    }
    if (core_->settings_.write_timeout.count() > 0)
        stream_.set_timeouts(std::chrono::milliseconds(0), std::chrono::milliseconds(0),
                             std::chrono::milliseconds(0));
    out.stream = std::move(stream_);
    out.slot = connection_slot(core_); // keeps the place this session had
    phase_ = phase::closed;
    if (queued()) core_->loop_->unschedule(this);
    part_.reset();
    core_->unlink(this, true);
    detach_all(true);
    return true;
}

// ---- timeouts ----

SLUICE_DECL std::int64_t server_session::deadline() const noexcept {
    const server_settings& st = core_->settings_;
    auto us = [](std::chrono::milliseconds d) {
        return static_cast<std::int64_t>(d.count()) * 1000;
    };
    auto after = [&](std::int64_t since, std::chrono::milliseconds d) {
        return d.count() > 0 ? since + us(d) : no_deadline;
    };
    switch (phase_) {
    case phase::closed:
        return no_deadline;
    case phase::closing:
    case phase::lingering:
        return closing_since_ + us(st.linger_timeout);
    case phase::proxy:
        return after(request_start_, st.header_timeout);
    default:
        break;
    }
    // The client owes the body a reader asked for (or that is being dropped).
    if (phase_ == phase::body_stream && body_ && (body_->handler || body_->dropped))
        return after(last_activity_, st.idle_timeout);
    if (dispatched() > 0) return no_deadline; // the handler's turn
    if (phase_ == phase::head) return after(request_start_, st.header_timeout);
    return after(last_activity_, st.idle_timeout);
}

SLUICE_DECL void server_session::rearm() {
    if (phase_ == phase::closed || !core_->loop_) return;
    std::int64_t d = deadline();
    if (d == no_deadline) {
        if (queued()) core_->loop_->unschedule(this);
        return;
    }
    if (!queued() || deadline_us > d) core_->loop_->schedule(this, d);
}

SLUICE_DECL void server_session::on_timer() {
    if (phase_ == phase::closed) return;
    std::int64_t d = deadline();
    if (d == no_deadline) return;
    const std::int64_t t = now();
    if (d > t) return core_->loop_->schedule(this, d);
    ref<server_session> keep(this);
    if (phase_ == phase::lingering && stream_.buffered_amount() > 0 &&
        t < closing_since_ + core_->settings_.idle_timeout.count() * 1000) {
        // The last response is still going out: give it up to the idle timeout.
        return core_->loop_->schedule(this, t + 100000);
    }
    if (phase_ == phase::head && dispatched() == 0) { // slowloris: 408 and close
        if (part_) part_->raw.clear();
        refuse(408);
        return kick();
    }
    close_now(make_error_code(sluice::error::timed_out), true);
}

// ---- closing ----

// The response that closes the connection is complete: take no more requests; once
// its bytes are with the stream (after the batch, inside a pass), half-close and
// linger.
SLUICE_DECL void server_session::begin_closing() {
    if (!open()) return;
    ref<server_session> keep(this);
    phase_ = phase::closing;
    fail_body(make_error_code(sluice::error::operation_aborted), false);
    detach_all(true);
    if (phase_ == phase::closing && !has(b_in_pass)) final_flushed();
}

SLUICE_DECL void server_session::final_flushed() {
    if (phase_ != phase::closing) return;
    // Lingering close: FIN our side once the queue is out, discard what the peer
    // still sends, close on its EOF or the linger timeout, so it reads our answer
    // instead of a reset.
    phase_ = phase::lingering;
    part_.reset();
    closing_since_ = now();
    stream_.shutdown_write();
    update_reading();
    rearm();
}

// Closes now. `reason` goes to a pending body read (from the loop); notify: call the
// on_close callbacks of unfinished responses, else destroy them uncalled.
SLUICE_DECL void server_session::close_now(std::error_code reason, bool notify) {
    if (phase_ == phase::closed) return;
    ref<server_session> keep(this);
    phase_ = phase::closed;
    if (queued() && core_->loop_) core_->loop_->unschedule(this);
    set(b_reading, false);
    stream_.close();
    part_.reset();
    core_->unlink(this, false);
    fail_body(reason, false);
    detach_all(notify);
}

// Graceful stop: no new requests; close once the current ones are answered.
SLUICE_DECL void server_session::begin_stop() {
    if (!open()) return;
    ref<server_session> keep(this);
    if (phase_ == phase::head || phase_ == phase::body) { // drop the partial request
        if (cur_) unlink_tail(cur_);
        cur_ = nullptr;
    }
    if (phase_ != phase::body_stream) phase_ = phase::answering; // a body being read goes on
    if (!back_) {
        if (phase_ == phase::body_stream)
            begin_closing();
        else
            close_now(make_error_code(sluice::error::operation_aborted), true);
        return;
    }
    back_->close = true;
    kick();
}

// Every response loses its connection: first all links are cleared (so code run by
// a callback or a destructor finds them all inert), then the callbacks run or go.
SLUICE_DECL void server_session::detach_all(bool notify) {
    response_slot* first = front_;
    front_ = back_ = cur_ = nullptr;
    queued_ = 0;
    for (response_slot* sl = first; sl; sl = sl->next) sl->s = nullptr;
    std::vector<unique_function<void()>> calls;
    std::vector<response_drain_waiter*> waiters;
    while (first) {
        response_slot* sl = first;
        first = sl->next;
        sl->next = nullptr;
        unique_function<void()> gone_drain = std::move(sl->on_drain);
        unique_function<void()> cb = std::move(sl->on_close);
        if (cb && notify && !sl->finished) calls.push_back(std::move(cb));
        if (response_drain_waiter* w = std::exchange(sl->waiter, nullptr)) waiters.push_back(w);
        ref<response_slot>::adopt(sl).reset();
    }
    for (auto& cb : calls) cb();
    // A waiting coroutine hears that its connection is gone, as on_close callbacks do; when
    // the server is being destroyed (no notify) it is dropped, as handlers are.
    for (response_drain_waiter* w : waiters) {
        if (notify)
            w->on_drained(make_error_code(sluice::error::not_open));
        else
            w->on_dropped();
    }
}

} // namespace detail
} // namespace http
} // namespace sluice
