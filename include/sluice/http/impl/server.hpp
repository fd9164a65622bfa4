// sluice — the member functions of http::response, http::body_reader,
// http::connection_slot, http::request_view and the server core that need the session.
// Part of <sluice/http/server.hpp>.
#pragma once

#include <sluice/http/session.hpp>

#include <string>
#include <string_view>
#include <utility>

#if SLUICE_COMPILE_BODIES
namespace sluice {
namespace http {

// ---- request_view ----

SLUICE_DECL endpoint request_view::client() const {
    if (!session_) return endpoint();
    if (session_->proxied_client_) return *session_->proxied_client_;
    std::error_code ec;
    return session_->stream_.remote_endpoint(ec);
}

SLUICE_DECL body_reader bodiless_body(const request_view& req) {
    if (!req.session_) return body_reader();
    detail::ref<detail::body_state> b = req.session_->core_->take_body_state();
    b->default_limit = req.session_->core_->settings_.max_buffered_body;
    b->result = make_error_code(sluice::error::eof);
    b->length = 0;
    return body_reader(std::move(b));
}

// ---- response ----

SLUICE_DECL void response::reset() noexcept {
    if (!sl_) return;
    if (sl_->s && !sl_->finished) {
        if (sl_->head_sent)
            end();
        else
            status(500).end();
    }
    sl_.reset();
}

SLUICE_DECL void response::end(std::string_view body) {
    if (!sl_ || !sl_->s || sl_->finished) return;
    detail::server_session* s = sl_->s;
    detail::ref<detail::server_session> keep(s);
    detail::ref<detail::response_slot> sl = sl_; // the handle may go inside advance()
    if (sl->head_sent) {
        if (!body.empty()) write(body);
        if (!sl->s) return;
        sl->finished = true;
        if (sl->declared_length >= 0 && !sl->head_request &&
            sl->streamed < static_cast<std::uint64_t>(sl->declared_length))
            sl->close = true; // cut short: only the close can say so
        // HTTP/1.0 streams (and HEAD) have no terminator; the former end with a close.
        if (sl->streaming && sl->minor >= 1 && !sl->head_request) {
            const_buffer b(std::string_view("0\r\n\r\n"));
            s->emit(sl.get(), &b, 1);
        }
        if (sl->s && s->front_ == sl.get()) s->advance();
        return;
    }
    detail::server_core& c = *s->core_;
    // The head is built in the core's scratch buffer, shared by every connection: safe
    // because it is used for these lines only, which run no user code and never start
    // another connection's output (emit() only appends or writes the bytes).
    std::string& h = c.head_scratch_;
    // A length the handler set (header or content_length()) must be the body's; a HEAD
    // answer announces it without sending the body.
    std::int64_t length = static_cast<std::int64_t>(body.size());
    if (sl->declared_length >= 0 && sl->declared_length != length) {
        if (sl->head_request && body.empty())
            length = sl->declared_length;
        else
            sl->bad_header = true;
    }
    s->note_unread_body(sl.get());
    detail::build_head(c, *sl, h, sl->bad_header ? 0 : length);
    const bool bodyless =
        sl->head_request || sl->status < 200 || sl->status == 204 || sl->status == 304;
    if (sl->bad_header) body = {};
    sl->head_sent = true;
    sl->finished = true;
    const_buffer b[2] = {const_buffer(h), const_buffer(body)};
    s->emit(sl.get(), b, bodyless || body.empty() ? 1 : 2);
    if (sl->s && s->front_ == sl.get()) s->advance();
}

SLUICE_DECL bool response::stream_bytes(std::string_view data, bool sse_head) {
    if (!sl_ || !sl_->s || sl_->finished) return false;
    detail::server_session* s = sl_->s;
    detail::ref<detail::server_session> keep(s);
    detail::ref<detail::response_slot> sl = sl_;
    if (!sl->head_sent) {
        if (sse_head) {
            if (!sl->has_type) header("Content-Type", "text/event-stream");
            header("Cache-Control", "no-cache");
        }
        detail::server_core& c = *s->core_;
        std::string& h = c.head_scratch_; // as in end(): used only within these lines
        s->note_unread_body(sl.get());
        detail::build_head(c, *sl, h, sl->declared_length);
        sl->head_sent = true;
        sl->streaming = sl->declared_length < 0;
        const_buffer b(h);
        s->emit(sl.get(), &b, 1);
        if (!sl->s) return false;
        if (sl->bad_header) {
            // The head became a 500 with an empty body: that response is complete.
            sl->finished = true;
            sl->streaming = false;
            if (s->front_ == sl.get()) s->advance();
            return false;
        }
    }
    if (!data.empty() && !sl->head_request) {
        if (sl->declared_length >= 0) { // announced with Content-Length: sent as it is
            if (data.size() > static_cast<std::uint64_t>(sl->declared_length) - sl->streamed)
                return false;
            sl->streamed += data.size();
            const_buffer b(data);
            s->emit(sl.get(), &b, 1);
        } else if (sl->minor >= 1) {
            char size[24];
            std::size_t n = http::detail::format_uint(data.size(), size, 16);
            size[n++] = '\r';
            size[n++] = '\n';
            const_buffer b[3] = {const_buffer(size, n), const_buffer(data),
                                 const_buffer(std::string_view("\r\n"))};
            s->emit(sl.get(), b, 3);
        } else {
            const_buffer b(data);
            s->emit(sl.get(), &b, 1);
        }
    }
    // A stream that refused a write is closed: the response cannot go on.
    return sl->s != nullptr && s->open() && s->stream_.is_open();
}

SLUICE_DECL long long response::send_file(int file_fd, std::uint64_t offset, std::size_t n) {
    if (!sl_ || !sl_->s || sl_->finished || !sl_->head_sent || sl_->head_request ||
        sl_->declared_length < 0)
        return sl_ && sl_->s ? 0 : -1;
    detail::server_session* s = sl_->s;
    if (s->front_ != sl_.get() || s->has(detail::server_session::b_in_pass) || !s->open())
        return 0;
    const std::uint64_t room = static_cast<std::uint64_t>(sl_->declared_length) - sl_->streamed;
    if (n > room) n = static_cast<std::size_t>(room);
    const long long r = s->stream_.send_file_now(file_fd, offset, n);
    if (r < 0) {
        s->fail_soon(make_error_code(sluice::error::operation_aborted));
        return -1;
    }
    sl_->streamed += static_cast<std::uint64_t>(r);
    return r;
}

SLUICE_DECL bool response::output_idle() const noexcept {
    if (!sl_ || !sl_->s || sl_->finished) return false;
    const detail::server_session* s = sl_->s;
    return s->front_ == sl_.get() && !s->has(detail::server_session::b_in_pass) &&
           s->batch_.empty() && s->stream_.buffered_amount() == 0;
}

SLUICE_DECL bool response::wait_flushed(unique_function<void()> cb) {
    if (!sl_ || !sl_->s || sl_->finished || sl_->s->front_ != sl_.get() || !sl_->s->open())
        return false;
    // The pass's gathered output is written when the pass ends, before the loop's next
    // turn: a callback deferred now finds it handed over (or queued, and waits again).
    sl_->s->stream_.on_flushed(std::move(cb));
    return true;
}

SLUICE_DECL response::takeover response::take_over(std::string_view head) {
    takeover t;
    if (!sl_ || !sl_->s || !sl_->s->take_over(sl_.get(), head, t))
        t.ec = make_error_code(error::not_upgradable);
    return t;
}

SLUICE_DECL bool response::write_queue_high() const noexcept {
    if (!sl_ || !sl_->s) return false;
    detail::server_session* s = sl_->s;
    const std::size_t high = s->core_->settings_.write.high_watermark;
    if (s->front_ != sl_.get()) return sl_->pending.size() >= high;
    if (s->has(detail::server_session::b_in_pass)) // gathered for one write at the pass's end
        return s->batch_.size() + s->stream_.buffered_amount() >= high;
    return s->stream_.write_queue_high();
}

SLUICE_DECL void response::on_drain(unique_function<void()> cb) {
    if (!sl_ || !sl_->s) return;
    sl_->on_drain = std::move(cb);
    sl_->s->want_drain();
}

SLUICE_DECL std::error_code response::wait_drain(detail::response_drain_waiter* w) {
    if (!sl_ || !sl_->s) return make_error_code(sluice::error::not_open);
    if (sl_->waiter) return make_error_code(sluice::error::in_progress);
    sl_->waiter = w;
    sl_->s->want_drain();
    return {};
}

// ---- connection_slot ----

SLUICE_DECL connection_slot& connection_slot::operator=(connection_slot&& o) noexcept {
    if (this != &o) {
        reset();
        core_ = std::move(o.core_);
    }
    return *this;
}

SLUICE_DECL connection_slot::~connection_slot() { reset(); }

SLUICE_DECL void connection_slot::reset() noexcept {
    if (!core_) return;
    --core_->count_;
    core_.reset();
}

// ---- body_reader ----

SLUICE_DECL void body_reader::read(handler_type handler) {
    if (!st_ || !handler) return; // nowhere to complete it from
    detail::body_state& b = *st_;
    if (b.handler) {
        detail::server_session::complete_later(*b.core, std::move(handler),
                                               make_error_code(sluice::error::in_progress));
        return;
    }
    if (!b.s) { // the body ended, or failed: say so from the loop
        detail::server_session::complete_later(*b.core, std::move(handler), b.result);
        return;
    }
    b.all_mode = false;
    b.handler = std::move(handler);
    b.s->body_read_started();
}

SLUICE_DECL void body_reader::read_all(std::size_t limit, handler_type handler) {
    if (!st_ || !handler) return;
    detail::body_state& b = *st_;
    if (b.handler) {
        detail::server_session::complete_later(*b.core, std::move(handler),
                                               make_error_code(sluice::error::in_progress));
        return;
    }
    if (!b.s) {
        // Nothing more will come: eof means the rest is empty.
        std::error_code ec = b.result == sluice::error::eof ? std::error_code() : b.result;
        detail::server_session::complete_later(*b.core, std::move(handler), ec);
        return;
    }
    b.all_mode = true;
    b.limit = limit;
    b.all.clear();
    b.all_view = std::string_view();
    b.handler = std::move(handler);
    b.s->body_read_started();
}

SLUICE_DECL bool body_reader::cancel() {
    if (!st_ || !st_->handler) return false;
    detail::body_state& b = *st_;
    handler_type h = std::move(b.handler);
    detail::server_session::complete_later(*b.core, std::move(h),
                                           make_error_code(sluice::error::operation_aborted));
    if (b.s) {
        detail::ref<detail::server_session> keep(b.s);
        // What a read_all collected is lost with it: the body cannot go on.
        if (b.all_mode && (!b.all.empty() || !b.all_view.empty())) keep->abandon_body();
        keep->kick(); // no read pending: stop reading the socket
    }
    b.all_mode = false;
    b.all.clear();
    b.all_view = std::string_view();
    return true;
}

SLUICE_DECL void body_reader::reset() noexcept {
    if (!st_) return;
    detail::ref<detail::body_state> b = std::move(st_);
    if (b->s) {
        detail::ref<detail::server_session> keep(b->s);
        b->s->body_dropped();
    } else if (b->handler) {
        detail::server_session::complete_later(*b->core, std::move(b->handler),
                                               make_error_code(sluice::error::operation_aborted));
    }
}

} // namespace http
} // namespace sluice
#endif

namespace sluice {
namespace http {
namespace detail {

// ---- server_core ----

// The loop is being destroyed without shutdown(): let go silently, as its own pending
// handlers are dropped uncalled.
template <class Core>
void core_loop_exit(Core& c) noexcept {
    ref<Core> keep(&c);
    c.stopping_ = true;
    c.close_all(false);
    c.listener_.close();
    c.grace_timer_.close();
    c.handler_ = nullptr;
    c.stream_handler_ = nullptr;
    c.bodiless_handler_ = nullptr;
    c.loop_ = nullptr;
}

#if SLUICE_COMPILE_BODIES
SLUICE_DECL void server_core::accept(tcp_stream st) {
    if (stopping_ || !loop_ || count_ >= settings_.max_connections) {
        ++rejected_;
        st.close();
        return;
    }
    st.set_write_limits(settings_.write);
    ref<server_session> s = make_ref<server_session>(this, std::move(st));
    link(s.get());
    s->start();
}

SLUICE_DECL void server_core::close_all(bool notify) {
    // close_now() keeps the session alive while it runs and unlinks it. No counted
    // reference here as well: GCC 12 at -O3 takes the nested pair for a use after free.
    while (sessions_) sessions_->close_now(make_error_code(sluice::error::operation_aborted), notify);
}

SLUICE_DECL void server_core::link(server_session* s) {
    s->add_ref(); // the list's reference
    s->next_ = sessions_;
    if (sessions_) sessions_->prev_ = s;
    sessions_ = s;
    ++count_;
}

// Drops the list's reference (the caller holds another). keep_count: the place passes
// to a connection_slot.
SLUICE_DECL void server_core::unlink(server_session* s, bool keep_count) {
    if (s->prev_)
        s->prev_->next_ = s->next_;
    else
        sessions_ = s->next_;
    if (s->next_) s->next_->prev_ = s->prev_;
    s->prev_ = s->next_ = nullptr;
    if (!keep_count) --count_;
    s->drop_ref();
}

#endif
} // namespace detail
} // namespace http
} // namespace sluice
