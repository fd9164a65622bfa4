// sluice — out-of-line bodies of sluice/http/session.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/session.hpp>

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL server_session::server_session(server_core* c, tcp_stream st)
    : core_(c), stream_(std::move(st)), parser_(parser::request, msg_, c->settings_.limits) {
    last_activity_ = c->loop_->now_us();
    request_start_ = last_activity_; // the PROXY header is due within header_timeout
    if (c->settings_.proxy_protocol) phase_ = phase::proxy;
}

SLUICE_DECL void server_session::start() {
    const server_settings& st = core_->settings_;
    stream_.set_nodelay(true);
    if (st.write_timeout.count() > 0)
        stream_.set_timeouts(std::chrono::milliseconds(0), std::chrono::milliseconds(0),
                             st.write_timeout);
    update_reading();
    rearm();
}

SLUICE_DECL void server_session::emit(response_slot* sl, const const_buffer* bufs, std::size_t n) {
    if (front_ != sl) {
        std::size_t total = 0;
        for (std::size_t i = 0; i < n; ++i) total += bufs[i].size;
        if (sl->pending.size() + total > core_->settings_.write.hard_cap)
            return fail_soon(make_error_code(sluice::error::write_queue_full));
        for (std::size_t i = 0; i < n; ++i)
            sl->pending.append(static_cast<const char*>(bufs[i].data), bufs[i].size);
        return;
    }
    output(bufs, n);
}

SLUICE_DECL void server_session::output(const const_buffer* bufs, std::size_t n) {
    if (!open()) return;
    if (has(b_in_pass)) {
        for (std::size_t i = 0; i < n; ++i)
            batch_.append(static_cast<const char*>(bufs[i].data), bufs[i].size);
        return;
    }
    stream_.write(bufs, n);
    if (!stream_.is_open()) fail_soon(make_error_code(sluice::error::operation_aborted));
}

SLUICE_DECL void server_session::flush_batch() {
    if (!batch_.empty() && phase_ <= phase::closing) { // the closing response's bytes too
        const_buffer b(batch_);
        stream_.write(&b, 1);
        if (!stream_.is_open()) fail_soon(make_error_code(sluice::error::operation_aborted));
    }
    batch_.clear();
    core_->batch_spare_.give(std::move(batch_));
    batch_ = std::string();
}

SLUICE_DECL void server_session::fail_soon(std::error_code ec) {
    if (!open() || !core_->loop_) return;
    set(b_reading, false); // the aborted read completion is ours: ignored
    stream_.close();
    core_->loop_->defer([s = ref<server_session>(this), ec] { s->close_now(ec, true); });
}

SLUICE_DECL void server_session::advance() {
    while (front_ && front_->finished) {
        response_slot* sl = front_;
        front_ = sl->next;
        if (!front_) back_ = nullptr;
        --queued_;
        sl->s = nullptr;
        sl->next = nullptr;
        const bool close = sl->close;
        {
            // The queue's reference, and callbacks that will never run; destroying
            // them may run user code, so the queue is consistent first.
            unique_function<void()> gone_close = std::move(sl->on_close);
            unique_function<void()> gone_drain = std::move(sl->on_drain);
            ref<response_slot> drop = ref<response_slot>::adopt(sl);
        }
        if (!open()) return;
        if (close) return begin_closing();
        if (front_ && !front_->pending.empty()) {
            std::string out = std::move(front_->pending);
            front_->pending = std::string();
            const_buffer b(out);
            output(&b, 1);
        }
    }
    if (!front_) last_activity_ = now();
    kick();
}

SLUICE_DECL bool server_session::want_read() const noexcept {
    const bool held = part_ && !part_->raw.empty() && !has(b_need_bytes);
    switch (phase_) {
    case phase::proxy:
    case phase::lingering:
        return true;
    case phase::idle:
    case phase::head:
    case phase::body:
        return can_take_requests() && !held;
    case phase::body_stream: // for a reader that asked (or a dropped body), nothing held
        return body_ && (body_->handler || body_->dropped) && !held;
    default:
        return false;
    }
}

SLUICE_DECL bool server_session::needs_pass() const noexcept {
    if (!part_ || part_->raw.empty() || has(b_need_bytes)) return false;
    switch (phase_) {
    case phase::idle:
    case phase::head:
    case phase::body:
        return can_take_requests();
    case phase::body_stream:
        return !body_ || body_->handler || body_->dropped || !parser_.in_body();
    default:
        return false;
    }
}

SLUICE_DECL void server_session::update_reading() {
    if (phase_ == phase::closed) return;
    const bool want = want_read();
    if (want == has(b_reading)) return;
    set(b_reading, want);
    if (want) {
        // A subscription of ours is told apart from an earlier one: a completion of a
        // stopped one (or its release) is ignored.
        ++read_gen_;
        stream_.read_start([s = ref<server_session>(this), gen = read_gen_](std::error_code ec,
                                                                            std::string_view data) {
            s->on_read(gen, ec, data);
        });
    } else {
        stream_.read_stop();
    }
}

SLUICE_DECL void server_session::kick() {
    if (has(b_in_pass) || phase_ == phase::closed) return;
    if (needs_pass()) schedule_pass();
    update_reading();
    rearm();
}

SLUICE_DECL void server_session::schedule_pass() {
    if (has(b_pass_queued) || !core_->loop_) return;
    set(b_pass_queued, true);
    core_->loop_->defer([s = ref<server_session>(this)] {
        s->set(b_pass_queued, false);
        s->run_held();
    });
}

SLUICE_DECL void server_session::run_held() {
    if (phase_ == phase::closed || has(b_in_pass)) return;
    if (needs_pass())
        process(part_->raw.data(), part_->raw.size(), true);
    else
        kick();
}

SLUICE_DECL void server_session::on_read(std::uint32_t gen, std::error_code ec,
                                         std::string_view data) {
    if (phase_ == phase::closed || gen != read_gen_ || !has(b_reading)) return;
    ref<server_session> keep(this);
    if (ec) {
        set(b_reading, false);
        // EOF while answers are pending is taken as the client going away (as
        // nginx does): a half-closing client may lose asynchronous answers.
        return close_now(ec == sluice::error::eof ? make_error_code(error::unexpected_eof) : ec,
                         true);
    }
    if (phase_ == phase::lingering || phase_ == phase::answering) return; // discard
    last_activity_ = now();
    if (phase_ == phase::proxy) return on_proxy_header(data);
    if (!part_ || part_->raw.empty()) {
        process(data.data(), data.size(), false);
    } else {
        part_->raw.append(data.data(), data.size());
        process(part_->raw.data(), part_->raw.size(), true);
    }
}

SLUICE_DECL void server_session::on_proxy_header(std::string_view data) {
    std::string_view in = data;
    if (part_) {
        part_->raw.append(data.data(), data.size());
        in = part_->raw;
    }
    proxy::header h;
    proxy::parse_result r = proxy::parse(in, h);
    if (r.status == proxy::parse_status::error)
        return close_now(make_error_code(sluice::error::operation_aborted), true);
    if (r.status == proxy::parse_status::need_more) {
        if (!part_) ensure_part().raw.assign(data.data(), data.size());
        return;
    }
    phase_ = phase::idle;
    if (h.proxied() && h.source.valid()) proxied_client_.reset(new endpoint(h.source));
    if (part_) {
        part_->raw.erase(0, r.consumed);
        process(part_->raw.data(), part_->raw.size(), true);
    } else {
        process(data.data() + r.consumed, data.size() - r.consumed, false);
    }
}

SLUICE_DECL void server_session::process(const char* p, std::size_t len, bool from_raw) {
    ref<server_session> keep(this);
    const char* cur = p;
    const char* const end = p + len;
    set(b_in_pass, true);
    set(b_need_bytes, false);
    batch_ = core_->batch_spare_.take();
    headers_ = core_->take_headers();
    if (!(phase_ == phase::body && head_copied())) point_headers(headers_);
    while (phase_ >= phase::idle && phase_ <= phase::body_stream) {
        if (phase_ == phase::idle) {
            if (cur == end || !can_take_requests()) break;
            phase_ = phase::head;
            request_start_ = now();
        } else if (phase_ == phase::body_stream && parser_.in_body() && body_ && !body_->handler &&
                   !body_->dropped) {
            break; // backpressure: nobody asked for the next piece yet
        }
        const char* before = cur;
        result r = parser_.feed(cur, static_cast<std::size_t>(end - cur));
        cur += r.consumed;
        if (r.ev == event::need_more) {
            if (phase_ == phase::head && cur == end) phase_ = phase::idle; // blank lines
            if (phase_ == phase::body_stream && body_ && body_->dropped && !may_discard_body())
                abandon_body();
            set(b_need_bytes, cur != end);
            break;
        }
        if (r.ev == event::head) {
            on_head(before, r.consumed, cur, end);
        } else if (r.ev == event::body) {
            on_body(r.data);
        } else if (r.ev == event::done) {
            on_done(cur, end);
            // Enough output gathered, or enough requests waiting for answers: keep
            // the rest of the input for a later pass.
            if (batch_.size() >= core_->settings_.write.high_watermark) break;
        } else if (r.ev == event::upgrade) {
            break; // what follows is not HTTP: the upgrade's response closes
        } else {
            on_parse_error();
            break;
        }
    }
    end_pass(cur, end, from_raw);
}

SLUICE_DECL void server_session::end_pass(const char* cur, const char* end, bool from_raw) {
    set(b_in_pass, false);
    if (phase_ != phase::closed) stash(cur, end, from_raw);
    if (msg_.headers == headers_.data()) point_headers(no_headers_);
    core_->headers_spare_.give(std::move(headers_));
    headers_ = std::vector<header>();
    flush_batch();
    if (phase_ == phase::closing) final_flushed();
    if (!open()) return;
    if (stream_.write_queue_high() && !has(b_paused)) {
        set(b_paused, true);
        want_drain();
    }
    kick();
}

SLUICE_DECL void server_session::on_head(const char* begin, std::size_t n, const char* cur,
                                         const char* end) {
    ref<response_slot> sl = make_ref<response_slot>();
    sl->s = this;
    sl->minor = msg_.version_minor;
    sl->head_request = msg_.verb == verb::head;
    sl->close = !msg_.keep_alive() || msg_.upgrade() || core_->stopping_;
    push(sl.get());
    if (core_->stream_handler_ && (msg_.has_body() || !core_->bodiless_handler_))
        return dispatch_stream(sl.get(), cur, end);
    cur_ = sl.get();
    phase_ = phase::body;
    head_begin_ = begin;
    head_len_ = n;
    if (msg_.has_content_length() && msg_.content_length > core_->settings_.max_buffered_body)
        return refuse(413);
    if (msg_.expect_continue() && msg_.has_body() && cur == end) {
        const_buffer b(continue_100);
        emit(cur_, &b, 1);
    }
}

SLUICE_DECL void server_session::on_body(std::string_view d) {
    if (d.empty()) return;
    if (phase_ == phase::body_stream) return deliver(d);
    if (!body_copied() && body_view_.empty()) {
        body_view_ = d;
    } else {
        std::string& b = ensure_part().body;
        if (b.empty()) b.assign(body_view_.data(), body_view_.size());
        b.append(d.data(), d.size());
        body_view_ = std::string_view(b);
    }
    if (body_view_.size() > core_->settings_.max_buffered_body) refuse(413);
}

SLUICE_DECL void server_session::on_done(const char* cur, const char* end) {
    if (phase_ == phase::body_stream) {
        phase_ = after_request();
        return finish_body();
    }
    // A buffered request: its handler runs now.
    response_slot* sl = cur_;
    cur_ = nullptr;
    phase_ = sl->close ? phase::answering : phase::idle;
    if (msg_.upgrade()) { // what follows belongs to the next protocol
        rest_begin_ = cur;
        rest_end_ = end;
    }
    ++core_->requests_;
    {
        request_view req(msg_, body_view_, this);
        response res{ref<response_slot>(sl)};
        // Buffered: on_request's, or a bodiless request of a two-handler on_request_stream.
        server_core::handler_type& slot =
            core_->stream_handler_ ? core_->bodiless_handler_ : core_->handler_;
        if (slot) {
            server_core::handler_type h = std::move(slot);
            h(req, res);
            if (!slot && !core_->gone_) slot = std::move(h);
        } else {
            res.status(404).end();
        }
    } // a response left unanswered in the handler is answered 500 here
    rest_begin_ = rest_end_ = nullptr;
    body_view_ = std::string_view();
    if (part_ && head_copied()) {
        part_->head = std::string();
        part_->body = std::string();
        part_->headers = std::vector<header>();
        point_headers(headers_);
    }
}

SLUICE_DECL server_session::phase server_session::after_request() const noexcept {
    return !msg_.keep_alive() || msg_.upgrade() || core_->stopping_ ? phase::answering
                                                                    : phase::idle;
}

SLUICE_DECL void server_session::on_parse_error() {
    std::error_code ec = parser_.error();
    if (phase_ == phase::body_stream) { // the response is the handler's
        phase_ = phase::answering;
        close_after_responses();
        return fail_body(ec, true);
    }
    refuse(suggested_status(ec));
}

SLUICE_DECL void server_session::refuse(int status) {
    ref<response_slot> sl(cur_);
    if (!sl) {
        sl = make_ref<response_slot>();
        sl->s = this;
        push(sl.get());
    }
    cur_ = nullptr;
    phase_ = phase::answering;
    sl->close = true;
    sl->head_request = false;
    sl->minor = 1;
    answer_error(sl.get(), status);
}

SLUICE_DECL void server_session::answer_error(response_slot* sl, int status) {
    response res{ref<response_slot>(sl)};
    res.status(static_cast<unsigned>(status));
    res.header("Content-Type", "text/plain");
    std::string_view why = reason_phrase(static_cast<unsigned>(status));
    std::string body(why);
    body += '\n';
    res.end(body);
}

SLUICE_DECL void server_session::close_after_responses() {
    if (back_)
        back_->close = true;
    else
        begin_closing();
}

SLUICE_DECL server_session::partial& server_session::ensure_part() {
    if (!part_) part_.reset(new partial);
    return *part_;
}

SLUICE_DECL void server_session::point_headers(std::vector<header>& h) {
    msg_.headers = h.data();
    msg_.header_capacity = static_cast<std::uint32_t>(h.size());
}

SLUICE_DECL void server_session::stash(const char* cur, const char* end, bool from_raw) {
    const bool receiving = phase_ >= phase::idle && phase_ <= phase::body_stream;
    if (!receiving || (phase_ != phase::body && cur == end)) {
        part_.reset();
        return;
    }
    partial& pt = ensure_part();
    if (phase_ == phase::body && pt.head.empty()) {
        // The head's views point into input about to go away: copy and rebase.
        pt.head.assign(head_begin_, head_len_);
        pt.headers.assign(msg_.headers, msg_.headers + msg_.num_headers);
        pt.headers.resize(core_->max_headers_);
        const char* old = head_begin_;
        const char* nb = pt.head.data();
        auto rebase = [&](std::string_view& v) {
            if (v.data() && v.data() >= old && v.data() < old + head_len_)
                v = std::string_view(nb + (v.data() - old), v.size());
        };
        rebase(msg_.method);
        rebase(msg_.target);
        for (std::uint32_t i = 0; i < msg_.num_headers; ++i) {
            rebase(pt.headers[i].name);
            rebase(pt.headers[i].value);
        }
        point_headers(pt.headers);
    }
    if (phase_ == phase::body && !body_view_.empty() && pt.body.empty()) {
        pt.body.assign(body_view_.data(), body_view_.size());
        body_view_ = std::string_view(pt.body);
    }
    if (body_ && !body_->all_view.empty()) { // a read_all's piece, still in the input
        body_->all.assign(body_->all_view.data(), body_->all_view.size());
        body_->all_view = std::string_view();
    }
    if (from_raw)
        pt.raw.erase(0, static_cast<std::size_t>(cur - pt.raw.data()));
    else
        pt.raw.assign(cur, static_cast<std::size_t>(end - cur));
}

SLUICE_DECL void server_session::want_drain() {
    if (has(b_drain_armed) || !open()) return;
    set(b_drain_armed, true);
    stream_.on_drain([s = ref<server_session>(this)] {
        s->set(b_drain_armed, false);
        s->on_drained();
    });
}

SLUICE_DECL void server_session::on_drained() {
    if (!open()) return;
    set(b_paused, false);
    std::vector<unique_function<void()>> cbs;
    std::vector<ref<response_slot>> waiting; // counted: a resumed waiter may end its response
    for (response_slot* sl = front_; sl; sl = sl->next) {
        if (sl->on_drain) cbs.push_back(std::move(sl->on_drain));
        if (sl->waiter) waiting.emplace_back(sl);
    }
    for (auto& cb : cbs) {
        if (!open()) break;
        cb();
    }
    for (auto& sl : waiting) {
        if (!open()) break; // detach_all() told them
        if (response_drain_waiter* w = std::exchange(sl->waiter, nullptr)) w->on_drained({});
    }
    kick();
}

SLUICE_DECL void server_session::push(response_slot* sl) {
    sl->add_ref();
    if (back_)
        back_->next = sl;
    else
        front_ = sl;
    back_ = sl;
    ++queued_;
}

SLUICE_DECL void server_session::unlink_tail(response_slot* sl) {
    response_slot* prev = nullptr;
    for (response_slot* x = front_; x; prev = x, x = x->next)
        if (x == sl) {
            if (prev)
                prev->next = x->next;
            else
                front_ = x->next;
            if (back_ == x) back_ = prev;
            --queued_;
            x->s = nullptr;
            x->next = nullptr;
            ref<response_slot>::adopt(x).reset();
            return;
        }
}
} // namespace detail
} // namespace http
} // namespace sluice
