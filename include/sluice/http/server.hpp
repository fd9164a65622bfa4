// sluice — a small HTTP/1.1 server on the loop (callback form).
//
//     sluice::http::server srv(loop);
//     srv.on_request([](const http::request_view& req, http::response& res) {
//         res.status(200).header("Content-Type", "text/plain").end("hi");
//     });
//     srv.listen(sluice::endpoint::any_v4(8080));
//
// Thin glue over tcp_listener/tcp_stream and the sans-I/O parser and serializer.
//
// Memory: a connection reads with read_start() into the loop's shared buffer and
// parses in place. Only when a request is cut by a read boundary does it copy the
// unconsumed bytes (and, once the head is complete, the head and the body so far)
// into a per-connection buffer, freed when the request is complete: an idle
// keep-alive connection owns no read buffer. The header array is shared by all the
// connections of a server (views are valid only during the handler call).
//
// Responses: the handler gets a `response&`. Answer at once (end()), or move the
// response out of the handler and answer later from any callback on the same loop.
// A response dropped without end() is answered 500 (or, once streaming, ended).
// Streaming: write() sends chunks (Transfer-Encoding: chunked), send_event() sends
// Server-Sent Events; end() finishes. Pipelined requests are answered strictly in
// order: output of a later response waits (buffered) until the earlier ones end.
// While a batch of pipelined requests read together is processed, responses are
// gathered and sent with one write.
//
// Protection: header-read timeout (from the first byte of a request to the end of
// its head: a client trickling bytes is cut off with 408), idle timeout between
// requests, limits answered with http::suggested_status() + Connection: close,
// a maximum number of connections (excess ones are accepted and closed at once), no
// reading while the write queue is above its high watermark or too many pipelined
// requests wait for their responses.
//
// A coroutine handler form belongs to the coroutine layer: it can adapt a
// `task<void>(const request_view&, response)` onto on_request() by moving the
// response into the coroutine frame (the response handle is built for that).
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/error.hpp>
#include <sluice/http/message.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/http/serializer.hpp>
#include <sluice/proxy/proxy_protocol.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace http {

struct server_settings {
    // From the first byte of a request to the end of its head (slowloris): 408 + close.
    std::chrono::milliseconds header_timeout{10000};
    // A keep-alive connection with no request in progress, or a request body that
    // makes no progress, for that long is closed.
    std::chrono::milliseconds idle_timeout{60000};
    // Queued response bytes that make no progress for that long close the
    // connection (0 = off; costs the stream's timeout state per connection).
    std::chrono::milliseconds write_timeout{0};
    // After the last response of a closing connection: how long to keep reading
    // (and discarding) so the peer sees the response rather than a reset.
    std::chrono::milliseconds linger_timeout{2000};
    std::size_t max_connections = 10000;
    // Requests received but not yet answered, per connection, before reading pauses.
    std::size_t max_pipelined = 64;
    http::limits limits{}; // head, request line, header count, body size
    std::string server_name = "sluice";
    sluice::write_limits write{};
    // Every connection starts with a PROXY protocol header (v1 or v2, from HAProxy,
    // nginx's stream module, a cloud load balancer), read before HTTP within the
    // header timeout; request_view::client() is then the client it reports. A
    // connection without a valid header is closed. Turn on only when every connection
    // comes through such a proxy: whoever reaches the port directly can claim any address.
    bool proxy_protocol = false;
};

namespace detail {
class server_session;
}

// The request as parsed: views into the connection's buffers, valid only during the
// handler call (copy what an asynchronous answer needs).
class request_view {
  public:
    request_view(const message& m, std::string_view body,
                 const detail::server_session* session = nullptr) noexcept
        : m_(&m), body_(body), session_(session) {}

    std::string_view method() const noexcept { return m_->method; }
    http::verb verb() const noexcept { return m_->verb; }
    std::string_view target() const noexcept { return m_->target; }
    // The target up to '?', and the query after it (without the '?').
    std::string_view path() const noexcept { return m_->target.substr(0, query_pos()); }
    std::string_view query() const noexcept {
        std::size_t q = query_pos();
        return q < m_->target.size() ? m_->target.substr(q + 1) : std::string_view();
    }
    unsigned version_minor() const noexcept { return m_->version_minor; }
    bool keep_alive() const noexcept { return m_->keep_alive(); }
    const header* begin() const noexcept { return m_->begin(); }
    const header* end() const noexcept { return m_->end(); }
    std::string_view get(std::string_view name) const noexcept { return m_->get(name); }
    const header* find(std::string_view name) const noexcept { return m_->find(name); }
    std::string_view body() const noexcept { return body_; }
    const message& msg() const noexcept { return *m_; }
    // The client's address: the source of the connection's PROXY header when
    // server_settings::proxy_protocol is on and the header named one (not LOCAL or
    // UNKNOWN), else the peer of the TCP connection (a getpeername() call).
    endpoint client() const;

  private:
    std::size_t query_pos() const noexcept {
        std::size_t q = m_->target.find('?');
        return q == std::string_view::npos ? m_->target.size() : q;
    }
    const message* m_;
    std::string_view body_;
    const detail::server_session* session_;
};

class response;
class server;

namespace detail {

class server_core;
class server_session;

// One request's place in its connection's response order. Shared by the session's
// queue and the user's response handle (counted); `s` is null once the connection
// is gone or the response is complete.
struct response_slot {
    server_session* s = nullptr;
    response_slot* next = nullptr;
    std::uint32_t refs = 1;
    std::uint16_t status = 200;
    std::uint8_t minor = 1;
    bool head_request = false;
    bool close = false;      // Connection: close, then close after this response
    bool head_sent = false;  // streaming started
    bool streaming = false;  // chunked (or close-delimited for HTTP/1.0)
    bool finished = false;   // every byte produced
    bool has_server = false; // the user supplied these
    bool has_date = false;
    bool has_type = false;
    bool bad_header = false;
    std::string reason;
    std::string headers; // serialized user headers
    std::string pending; // output produced while an earlier response is unfinished
    unique_function<void()> on_close;
    unique_function<void()> on_drain;
};

inline void release(response_slot* sl) noexcept {
    if (sl && --sl->refs == 0) delete sl;
}

} // namespace detail

// The answer to one request. Move-only handle; see the top of this file.
class response {
  public:
    response() noexcept = default;
    explicit response(detail::response_slot* sl) noexcept : sl_(sl) {
        if (sl_) ++sl_->refs;
    }
    response(response&& o) noexcept : sl_(std::exchange(o.sl_, nullptr)) {}
    response& operator=(response&& o) noexcept {
        if (this != &o) {
            reset();
            sl_ = std::exchange(o.sl_, nullptr);
        }
        return *this;
    }
    response(const response&) = delete;
    response& operator=(const response&) = delete;
    ~response() { reset(); }

    // Before the head is sent (the first end/write/send_event): status and headers.
    // Framing headers (Content-Length, Transfer-Encoding) are the server's and are
    // ignored; `Connection: close` closes the connection after this response.
    // A name or value that is not allowed on the wire is dropped and the response
    // becomes a 500.
    response& status(unsigned code, std::string_view reason = {});
    response& header(std::string_view name, std::string_view value);

    // Sends the whole response with Content-Length (no body for HEAD, 1xx, 204, 304).
    // After streaming started: ends the stream (the body argument is sent first).
    void end(std::string_view body = {});
    // Streaming: the first call sends the head with Transfer-Encoding: chunked.
    // Returns false when the response can no longer be written (connection gone).
    bool write(std::string_view chunk);
    // Server-Sent Events (text/event-stream, no-cache). `data` may hold several
    // lines; each becomes a `data:` field. Empty event/id are omitted.
    bool send_event(std::string_view data, std::string_view event = {}, std::string_view id = {});
    // An SSE comment line (": text"), e.g. a keep-alive ping.
    bool send_comment(std::string_view text);

    // The connection is alive and this response is not finished.
    bool is_open() const noexcept { return sl_ && sl_->s && !sl_->finished; }
    bool head_sent() const noexcept { return sl_ && sl_->head_sent; }
    // Backpressure for streaming: stop producing while true; on_drain() (one-shot)
    // says when to go on.
    bool write_queue_high() const noexcept;
    void on_drain(unique_function<void()> cb);
    // Called once if the connection goes away before the response is finished.
    void on_close(unique_function<void()> cb) {
        if (sl_ && sl_->s && !sl_->finished) sl_->on_close = std::move(cb);
    }

    explicit operator bool() const noexcept { return sl_ != nullptr; }

    // Hands the connection over to another protocol (WebSocket, a tunnel). The request must
    // be an upgrade (Upgrade + Connection: upgrade, or CONNECT) whose response has not
    // started, with every earlier pipelined response finished. Writes `head` (the complete
    // response head, e.g. a 101) and detaches the stream from the server: it is returned
    // with the bytes the client sent after the request, and the server forgets it (no
    // timeouts, not counted, not closed by stop()). Otherwise nothing is sent, ec says
    // why (http::error::not_upgradable) and the response is still the caller's to answer.
    struct takeover {
        tcp_stream stream;
        std::string rest;
        std::error_code ec;
    };
    takeover take_over(std::string_view head);

  private:
    void reset() noexcept;
    bool stream_bytes(std::string_view data, bool sse_head);
    detail::response_slot* sl_ = nullptr;
};

namespace detail {

class server_core {
  public:
    using handler_type = unique_function<void(const request_view&, response&)>;

    server_core(loop& l, server_settings s)
        : loop_(&l), settings_(std::move(s)), listener_(l),
          headers_(settings_.limits.max_headers ? settings_.limits.max_headers : 1) {}

    loop* loop_;
    server_settings settings_;
    tcp_listener listener_;
    handler_type handler_;
    std::vector<header> headers_; // shared by every connection's parse
    std::string batch_;           // gathered output of the connection being processed
    std::string scratch_;         // response heads
    date_cache dates_;
    // "HTTP/1.1 200 OK", Server and Date, the start of most responses: serialized and
    // checked when the date changes (at most once a second) instead of per response.
    std::string ok_head_;
    std::uint64_t ok_head_date_ = ~std::uint64_t(0);
    bool ok_head_valid_ = false;
    const std::string* ok_head() {
        std::string_view date = dates_.now();
        if (dates_.formats() != ok_head_date_) {
            ok_head_date_ = dates_.formats();
            ok_head_.clear();
            serializer<std::string> sr(ok_head_);
            sr.status_line(200);
            if (!settings_.server_name.empty()) sr.header("Server", settings_.server_name);
            sr.header("Date", date);
            ok_head_valid_ = !sr.error();
        }
        return ok_head_valid_ ? &ok_head_ : nullptr;
    }
    server_session* sessions_ = nullptr; // intrusive list
    std::size_t count_ = 0;
    std::size_t rejected_ = 0;
    std::uint64_t requests_ = 0;
    bool stopping_ = false;
    sluice::timer grace_timer_;

    void accept(tcp_stream st);
    void close_all();
    void unlink(server_session* s); // the caller drops the list's reference
};

inline constexpr std::int64_t no_deadline = INT64_MAX;

class server_session final : public sluice::detail::timer_node {
  public:
    server_session(server_core* c, tcp_stream st)
        : core_(c), stream_(std::move(st)), parser_(parser::request, msg_, c->settings_.limits) {
        reset_headers();
        last_activity_ = c->loop_->now_us();
        awaiting_proxy_ = c->settings_.proxy_protocol;
        request_start_ = last_activity_; // the PROXY header is due within header_timeout
    }
    ~server_session() = default;

    // Counted references: the server's list, the read handler, processing frames.
    struct ref {
        explicit ref(server_session* s) noexcept : s_(s) { ++s_->refs_; }
        ref(ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
        ref(const ref&) = delete;
        ref& operator=(const ref&) = delete;
        ~ref() {
            if (s_ && --s_->refs_ == 0) delete s_;
        }
        server_session* s_;
    };

    void start() {
        const server_settings& st = core_->settings_;
        stream_.set_nodelay(true);
        if (st.write_timeout.count() > 0)
            stream_.set_timeouts(std::chrono::milliseconds(0), std::chrono::milliseconds(0),
                                 st.write_timeout);
        update_reading();
        rearm();
    }

    // ---- output, in request order ----

    // Bytes of `sl`: to the socket (or the batch) when sl is the oldest unfinished
    // response, else kept in sl->pending.
    void emit(response_slot* sl, const const_buffer* bufs, std::size_t n) {
        if (front_ != sl) {
            for (std::size_t i = 0; i < n; ++i)
                sl->pending.append(static_cast<const char*>(bufs[i].data), bufs[i].size);
            return;
        }
        output(bufs, n);
    }

    void output(const const_buffer* bufs, std::size_t n) {
        if (dead_ || state_ != st_open) return;
        if (batching_) {
            for (std::size_t i = 0; i < n; ++i)
                core_->batch_.append(static_cast<const char*>(bufs[i].data), bufs[i].size);
            return;
        }
        stream_.write(bufs, n);
    }

    // `sl` (the front) may have finished: retire finished responses in order and
    // let the next one's buffered output go.
    void advance() {
        while (front_ && front_->finished) {
            response_slot* sl = front_;
            front_ = sl->next;
            if (!front_) back_ = nullptr;
            --queued_;
            sl->s = nullptr;
            sl->next = nullptr;
            sl->on_close = nullptr;
            sl->on_drain = nullptr;
            bool close = sl->close;
            release(sl);
            if (close) return begin_closing();
            if (front_ && !front_->pending.empty()) {
                std::string out = std::move(front_->pending);
                front_->pending = std::string();
                const_buffer b(out);
                output(&b, 1);
            }
        }
        if (!front_) last_activity_ = core_->loop_->now_us();
        if (!batching_) {
            resume_input();
            update_reading();
            rearm();
        }
    }

    // ---- reading ----

    void update_reading() {
        if (dead_) return;
        bool want = state_ == st_lingering || can_take_requests();
        if (want == reading_) return;
        reading_ = want;
        if (want)
            stream_.read_start([r = ref(this)](std::error_code ec, std::string_view data) {
                r.s_->on_read(ec, data);
            });
        else
            stream_.read_stop();
    }

    void on_read(std::error_code ec, std::string_view data) {
        if (dead_) return;
        if (ec) {
            reading_ = false;
            // EOF while answers are pending is taken as the client going away (as
            // nginx does): a half-closing client may lose asynchronous answers.
            return close_now();
        }
        if (state_ == st_lingering || no_more_) return; // discard
        last_activity_ = core_->loop_->now_us();
        ref keep(this);
        if (awaiting_proxy_) return on_proxy_header(data);
        if (!part_) {
            process(data.data(), data.size(), false);
        } else {
            part_->raw.append(data.data(), data.size());
            process(part_->raw.data(), part_->raw.size(), true);
        }
        resume_input();
    }

    // Before any HTTP when settings_.proxy_protocol is on. An incomplete header waits in
    // part_->raw (bounded: proxy::parse fails past its size limits).
    void on_proxy_header(std::string_view data) {
        std::string_view in = data;
        if (part_) {
            part_->raw.append(data.data(), data.size());
            in = part_->raw;
        }
        proxy::header h;
        proxy::parse_result r = proxy::parse(in, h);
        if (r.status == proxy::parse_status::error) return close_now();
        if (r.status == proxy::parse_status::need_more) {
            if (!part_) ensure_part().raw.assign(data.data(), data.size());
            return;
        }
        awaiting_proxy_ = false;
        if (h.proxied() && h.source.valid()) proxied_client_.reset(new endpoint(h.source));
        if (part_) {
            part_->raw.erase(0, r.consumed);
            process(part_->raw.data(), part_->raw.size(), true);
        } else {
            process(data.data() + r.consumed, data.size() - r.consumed, false);
        }
        resume_input();
    }

    // Parses [p, p+len): every complete request is dispatched, a partial one is kept.
    void process(const char* p, std::size_t len, bool from_raw) {
        const char* cur = p;
        const char* const end = p + len;
        batching_ = true;
        while (!dead_ && !no_more_ && state_ == st_open) {
            if (!in_request_) {
                if (cur == end) break;
                in_request_ = true;
                request_start_ = core_->loop_->now_us();
            }
            const char* before = cur;
            result r = parser_.feed(cur, static_cast<std::size_t>(end - cur));
            cur += r.consumed;
            if (r.ev == event::need_more) {
                if (!head_done_ && cur == end) in_request_ = false; // only blank lines
                break;
            }
            if (r.ev == event::head) {
                on_head(before, r.consumed, cur == end);
            } else if (r.ev == event::body) {
                on_body(r.data);
            } else if (r.ev == event::done) {
                if (msg_.upgrade()) { // what follows belongs to the next protocol
                    rest_begin_ = cur;
                    rest_end_ = end;
                }
                dispatch();
                rest_begin_ = rest_end_ = nullptr;
                // Enough output gathered, or enough requests waiting for answers:
                // keep the rest of the input for later (resume_input()).
                if (core_->batch_.size() >= core_->settings_.write.high_watermark ||
                    dispatched() >= core_->settings_.max_pipelined)
                    break;
            } else if (r.ev == event::upgrade) {
                break; // not reached: an upgrade request closes after its response
            } else {
                on_parse_error();
                break;
            }
        }
        batching_ = false;
        if (dead_) {
            core_->batch_.clear();
            return;
        }
        stash(cur, end, from_raw);
        if (!core_->batch_.empty()) {
            const_buffer b(core_->batch_);
            stream_.write(&b, 1);
            core_->batch_.clear();
        }
        if (close_on_flush_) {
            close_on_flush_ = false;
            final_flushed({});
        }
        if (dead_) return;
        if (stream_.write_queue_high() && !paused_) {
            paused_ = true;
            want_drain();
        }
        update_reading();
        rearm();
    }

    // Input already received but not parsed (pipelined requests held back by
    // backpressure) is processed once the reason to wait is gone.
    bool can_take_requests() const noexcept {
        return !dead_ && state_ == st_open && !no_more_ && !paused_ &&
               dispatched() < core_->settings_.max_pipelined;
    }
    void resume_input() {
        if (batching_ || awaiting_proxy_) return;
        ref keep(this);
        while (can_take_requests() && !in_request_ && part_ && !part_->raw.empty()) {
            std::size_t before = part_->raw.size();
            process(part_->raw.data(), part_->raw.size(), true);
            if (part_ && part_->raw.size() == before) break; // no progress
        }
    }

    void on_head(const char* begin, std::size_t n, bool nothing_after) {
        head_done_ = true;
        head_begin_ = begin;
        head_len_ = n;
        response_slot* sl = new response_slot;
        sl->s = this;
        sl->minor = msg_.version_minor;
        sl->head_request = msg_.verb == verb::head;
        sl->close = !msg_.keep_alive() || msg_.upgrade() || core_->stopping_;
        push(sl);
        cur_ = sl;
        if (msg_.expect_continue() && msg_.has_body() && nothing_after) {
            const_buffer b(continue_100);
            emit(sl, &b, 1);
        }
    }

    void on_body(std::string_view d) {
        if (d.empty()) return;
        if (!body_copied_ && body_.empty()) {
            body_ = d;
            return;
        }
        std::string& b = ensure_part().body;
        if (!body_copied_) {
            b.assign(body_.data(), body_.size());
            body_copied_ = true;
        }
        b.append(d.data(), d.size());
        body_ = std::string_view(b);
    }

    void dispatch() {
        response_slot* sl = cur_;
        cur_ = nullptr;
        in_request_ = false;
        head_done_ = false;
        if (sl->close) no_more_ = true;
        ++core_->requests_;
        {
            request_view req(msg_, body_, this);
            response res(sl);
            if (core_->handler_) {
                core_->handler_(req, res);
            } else {
                res.status(404).end();
            }
        } // a response left unanswered in the handler is answered 500 here
        body_ = std::string_view();
        body_copied_ = false;
        if (head_stable_) {
            head_stable_ = false;
            reset_headers();
            if (part_) {
                part_->head = std::string();
                part_->body = std::string();
            }
        }
    }

    void on_parse_error() {
        std::error_code ec = parser_.error();
        response_slot* sl = cur_;
        if (!sl) {
            sl = new response_slot;
            sl->s = this;
            push(sl);
        }
        cur_ = nullptr;
        in_request_ = false;
        no_more_ = true;
        sl->close = true;
        sl->head_request = false;
        sl->minor = 1;
        answer_error(sl, suggested_status(ec));
    }

    void answer_error(response_slot* sl, int status) {
        response res(sl);
        res.status(static_cast<unsigned>(status));
        res.header("Content-Type", "text/plain");
        std::string_view why = reason_phrase(static_cast<unsigned>(status));
        std::string body(why);
        body += '\n';
        res.end(body);
    }

    // Keeps what a partial request still needs; frees the buffer when none is.
    void stash(const char* cur, const char* end, bool from_raw) {
        if (no_more_ || state_ != st_open || (!in_request_ && cur == end)) {
            part_.reset();
            return;
        }
        partial& pt = ensure_part();
        if (in_request_ && head_done_ && !head_stable_) {
            // The head's views point into the input about to go away: copy and rebase.
            pt.head.assign(head_begin_, head_len_);
            pt.headers.assign(msg_.headers, msg_.headers + msg_.num_headers);
            pt.headers.resize(core_->headers_.size());
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
            msg_.headers = pt.headers.data();
            head_stable_ = true;
        }
        if (!body_copied_ && !body_.empty()) {
            pt.body.assign(body_.data(), body_.size());
            body_ = std::string_view(pt.body);
            body_copied_ = true;
        }
        if (from_raw)
            pt.raw.erase(0, static_cast<std::size_t>(cur - pt.raw.data()));
        else
            pt.raw.assign(cur, static_cast<std::size_t>(end - cur));
    }

    // ---- handing the connection over (response::take_over) ----

    bool take_over(response_slot* sl, std::string_view head, response::takeover& out) {
        if (dead_ || state_ != st_open || !rest_begin_ || sl != front_ || sl != back_ ||
            sl->head_sent || sl->finished)
            return false;
        ref keep(this);
        // Earlier responses of this batch first, then the new protocol's head.
        if (!core_->batch_.empty()) {
            const_buffer b(core_->batch_);
            stream_.write(&b, 1);
            core_->batch_.clear();
        }
        stream_.write(head);
        out.rest.assign(rest_begin_, static_cast<std::size_t>(rest_end_ - rest_begin_));
        sl->head_sent = true;
        sl->finished = true;
        reading_ = false;
        stream_.read_stop();
        if (drain_armed_) {
            drain_armed_ = false;
            stream_.on_drain(nullptr); // its callback points at this session
        }
        if (core_->settings_.write_timeout.count() > 0)
            stream_.set_timeouts(std::chrono::milliseconds(0), std::chrono::milliseconds(0),
                                 std::chrono::milliseconds(0));
        out.stream = std::move(stream_);
        dead_ = true;
        if (queued()) core_->loop_->unschedule(this);
        detach_all();
        part_.reset();
        core_->unlink(this);
        --refs_; // the list's reference (`keep` still holds one)
        return true;
    }

    // ---- timeouts ----

    std::int64_t deadline() const noexcept {
        const server_settings& st = core_->settings_;
        auto us = [](std::chrono::milliseconds d) {
            return static_cast<std::int64_t>(d.count()) * 1000;
        };
        if (dead_) return no_deadline;
        if (state_ != st_open) return closing_since_ + us(st.linger_timeout);
        if (awaiting_proxy_)
            return st.header_timeout.count() > 0 ? request_start_ + us(st.header_timeout)
                                                 : no_deadline;
        if (dispatched() > 0) return no_deadline; // the handler's turn
        if (in_request_) {
            if (!head_done_)
                return st.header_timeout.count() > 0 ? request_start_ + us(st.header_timeout)
                                                     : no_deadline;
        }
        return st.idle_timeout.count() > 0 ? last_activity_ + us(st.idle_timeout) : no_deadline;
    }

    void rearm() {
        if (dead_) return;
        std::int64_t d = deadline();
        if (d == no_deadline) {
            if (queued()) core_->loop_->unschedule(this);
            return;
        }
        if (!queued() || deadline_us > d) core_->loop_->schedule(this, d);
    }

    void on_timer() override {
        if (dead_) return;
        std::int64_t d = deadline();
        if (d == no_deadline) return;
        const std::int64_t now = core_->loop_->now_us();
        if (d > now) return core_->loop_->schedule(this, d);
        ref keep(this);
        if (state_ == st_lingering && stream_.buffered_amount() > 0 &&
            now < closing_since_ + core_->settings_.idle_timeout.count() * 1000) {
            // The last response is still going out: give it up to the idle timeout.
            return core_->loop_->schedule(this, now + 100000);
        }
        if (state_ == st_open && in_request_ && !head_done_ && dispatched() == 0) {
            // Slowloris: 408 and close.
            response_slot* sl = cur_;
            if (!sl) {
                sl = new response_slot;
                sl->s = this;
                push(sl);
            }
            cur_ = nullptr;
            in_request_ = false;
            no_more_ = true;
            sl->close = true;
            if (part_) part_->raw.clear();
            answer_error(sl, 408);
            update_reading();
            rearm();
            return;
        }
        close_now();
    }

    // ---- closing ----

    // The response that closes the connection is complete: take no more requests;
    // once its bytes are with the stream (after the batch, if one is being
    // gathered), half-close and linger.
    void begin_closing() {
        if (state_ != st_open) return;
        no_more_ = true;
        detach_all();
        if (batching_)
            close_on_flush_ = true;
        else
            final_flushed({});
    }

    void final_flushed(std::error_code) {
        if (dead_) return;
        // Lingering close: FIN our side once the queue is out, discard what the peer
        // still sends, close on its EOF or the linger timeout, so it reads our answer
        // instead of a reset.
        state_ = st_lingering;
        part_.reset();
        closing_since_ = core_->loop_->now_us();
        stream_.shutdown_write();
        update_reading();
        rearm();
    }

    void close_now() {
        if (dead_) return;
        ref keep(this);
        dead_ = true;
        if (queued()) core_->loop_->unschedule(this);
        reading_ = false;
        stream_.close();
        detach_all();
        part_.reset();
        core_->unlink(this);
        --refs_; // the list's reference (`keep` still holds one)
    }

    // Graceful stop: no new requests; close once the current ones are answered.
    void begin_stop() {
        if (dead_ || state_ != st_open) return;
        if (cur_) { // drop the partially received request
            unlink_tail(cur_);
            cur_ = nullptr;
            in_request_ = false;
        }
        no_more_ = true;
        if (!back_) return close_now();
        back_->close = true;
        update_reading();
        rearm();
    }

    void want_drain() {
        if (drain_armed_ || dead_) return;
        drain_armed_ = true;
        stream_.on_drain([r = ref(this)] {
            r.s_->drain_armed_ = false;
            if (!r.s_->dead_) r.s_->on_drained();
        });
    }

    void on_drained() {
        ref keep(this);
        paused_ = false;
        resume_input();
        std::vector<unique_function<void()>> cbs;
        for (response_slot* sl = front_; sl; sl = sl->next)
            if (sl->on_drain) cbs.push_back(std::move(sl->on_drain));
        for (auto& cb : cbs) {
            if (dead_) break;
            cb();
        }
        update_reading();
    }

    std::size_t dispatched() const noexcept { return queued_ - (cur_ ? 1 : 0); }

    struct partial {
        std::string raw;             // unconsumed input of the request in progress
        std::string head;            // its head, once complete (the views point here)
        std::string body;            // its body so far, when it spans reads or chunks
        std::vector<header> headers; // its header array, rebased onto `head`
    };

    partial& ensure_part() {
        if (!part_) part_.reset(new partial);
        return *part_;
    }

    void reset_headers() {
        msg_.headers = core_->headers_.data();
        msg_.header_capacity = static_cast<std::uint32_t>(core_->headers_.size());
    }

    void push(response_slot* sl) {
        if (back_)
            back_->next = sl;
        else
            front_ = sl;
        back_ = sl;
        ++queued_;
    }

    void unlink_tail(response_slot* sl) {
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
                release(x);
                return;
            }
    }

    void detach_all() {
        response_slot* sl = front_;
        front_ = back_ = nullptr;
        queued_ = 0;
        cur_ = nullptr;
        while (sl) {
            response_slot* next = sl->next;
            sl->s = nullptr;
            sl->next = nullptr;
            sl->on_drain = nullptr;
            unique_function<void()> cb = std::move(sl->on_close);
            if (cb && !sl->finished) cb();
            release(sl);
            sl = next;
        }
    }

    enum : std::uint8_t { st_open, st_closing, st_lingering };

    server_core* core_;
    server_session* prev_ = nullptr; // the server's list
    server_session* next_ = nullptr;
    tcp_stream stream_;
    message msg_;
    parser parser_;
    std::unique_ptr<partial> part_;
    // The client a PROXY header named (allocated only then).
    std::unique_ptr<endpoint> proxied_client_;
    response_slot* front_ = nullptr; // oldest unfinished response
    response_slot* back_ = nullptr;
    response_slot* cur_ = nullptr; // the request being received
    std::size_t queued_ = 0;
    std::string_view body_;
    const char* head_begin_ = nullptr;
    std::size_t head_len_ = 0;
    // While an upgrade request is dispatched: the input after it (for take_over).
    const char* rest_begin_ = nullptr;
    const char* rest_end_ = nullptr;
    std::int64_t last_activity_ = 0, request_start_ = 0, closing_since_ = 0;
    std::uint32_t refs_ = 1; // the server's list
    std::uint8_t state_ = st_open;
    bool dead_ = false;
    bool reading_ = false;
    bool paused_ = false; // write queue high
    bool no_more_ = false;
    bool in_request_ = false;
    bool head_done_ = false;
    bool head_stable_ = false;
    bool body_copied_ = false;
    bool batching_ = false;
    bool close_on_flush_ = false;
    bool drain_armed_ = false;
    bool awaiting_proxy_ = false; // settings_.proxy_protocol, until the header is read

    friend class server_core;
};

inline void server_core::accept(tcp_stream st) {
    if (stopping_ || count_ >= settings_.max_connections) {
        ++rejected_;
        st.close();
        return;
    }
    st.set_write_limits(settings_.write);
    auto* s = new server_session(this, std::move(st));
    s->next_ = sessions_;
    if (sessions_) sessions_->prev_ = s;
    sessions_ = s;
    ++count_;
    s->start();
}

inline void server_core::close_all() {
    while (sessions_) sessions_->close_now();
}

inline void server_core::unlink(server_session* s) {
    if (s->prev_)
        s->prev_->next_ = s->next_;
    else
        sessions_ = s->next_;
    if (s->next_) s->next_->prev_ = s->prev_;
    s->prev_ = s->next_ = nullptr;
    --count_;
}

} // namespace detail

// ---- request_view ----

inline endpoint request_view::client() const {
    if (!session_) return endpoint();
    if (session_->proxied_client_) return *session_->proxied_client_;
    std::error_code ec;
    return session_->stream_.remote_endpoint(ec);
}

// ---- response ----

inline void response::reset() noexcept {
    if (!sl_) return;
    detail::response_slot* sl = sl_;
    if (sl->s && !sl->finished) {
        if (sl->head_sent)
            end();
        else
            status(500).end();
    }
    sl_ = nullptr;
    detail::release(sl);
}

inline response& response::status(unsigned code, std::string_view reason) {
    if (!sl_ || sl_->head_sent || sl_->finished) return *this;
    if (code < 100 || code > 999) {
        sl_->bad_header = true;
        return *this;
    }
    sl_->status = static_cast<std::uint16_t>(code);
    if (reason.data() && http::detail::valid_value(reason))
        sl_->reason.assign(reason.data(), reason.size());
    else
        sl_->reason.clear();
    return *this;
}

inline response& response::header(std::string_view name, std::string_view value) {
    if (!sl_ || sl_->head_sent || sl_->finished) return *this;
    if (http::detail::iequals(name, "content-length") ||
        http::detail::iequals(name, "transfer-encoding"))
        return *this;
    if (http::detail::iequals(name, "connection")) {
        bool close = false;
        http::detail::for_each_list_item(value, [&](std::string_view t) {
            if (http::detail::iequals(t, "close")) close = true;
            return true;
        });
        if (close) sl_->close = true;
        return *this;
    }
    std::size_t before = sl_->headers.size();
    serializer<std::string> sr(sl_->headers);
    sr.header(name, value);
    if (sr.error()) {
        sl_->headers.resize(before);
        sl_->bad_header = true;
        return *this;
    }
    if (http::detail::iequals(name, "server")) sl_->has_server = true;
    if (http::detail::iequals(name, "date")) sl_->has_date = true;
    if (http::detail::iequals(name, "content-type")) sl_->has_type = true;
    return *this;
}

namespace detail {

// The response head into `h`. length < 0: streaming (chunked for HTTP/1.1).
inline void build_head(server_core& c, response_slot& sl, std::string& h, std::int64_t length) {
    h.clear();
    if (sl.bad_header) {
        sl.status = 500;
        sl.reason.clear();
        sl.headers.clear();
        sl.has_server = sl.has_date = sl.has_type = false;
        length = 0;
    }
    const std::string* common =
        sl.status == 200 && sl.reason.empty() && !sl.has_server && !sl.has_date ? c.ok_head()
                                                                                : nullptr;
    if (common) {
        h.assign(*common);
    } else {
        serializer<std::string> sr(h);
        sr.status_line(sl.status,
                       sl.reason.empty() ? std::string_view() : std::string_view(sl.reason));
        if (!sl.has_server && !c.settings_.server_name.empty())
            sr.header("Server", c.settings_.server_name);
        if (!sl.has_date) sr.header("Date", c.dates_.now());
    }
    h += sl.headers; // checked by response::header
    // The framing and Connection fields are the library's own: composed, not checked.
    char tail[96];
    std::size_t n = 0;
    auto put = [&](std::string_view piece) {
        std::memcpy(tail + n, piece.data(), piece.size());
        n += piece.size();
    };
    const bool bodyless = sl.status < 200 || sl.status == 204 || sl.status == 304;
    if (!bodyless) {
        if (length >= 0) {
            put("Content-Length: ");
            n += format_uint(static_cast<std::uint64_t>(length), tail + n);
            put("\r\n");
        } else if (sl.minor >= 1) {
            put("Transfer-Encoding: chunked\r\n");
        } else {
            sl.close = true; // HTTP/1.0 stream: delimited by the close
        }
    }
    if (sl.close)
        put("Connection: close\r\n");
    else if (sl.minor == 0)
        put("Connection: keep-alive\r\n");
    put("\r\n");
    h.append(tail, n);
}

} // namespace detail

inline void response::end(std::string_view body) {
    if (!sl_ || !sl_->s || sl_->finished) return;
    detail::server_session* s = sl_->s;
    detail::server_core& c = *s->core_;
    detail::server_session::ref keep(s);
    if (sl_->head_sent) {
        if (!body.empty()) write(body);
        if (!sl_->s) return;
        sl_->finished = true;
        // HTTP/1.0 streams (and HEAD) have no terminator; the former end with a close.
        if (sl_->streaming && sl_->minor >= 1 && !sl_->head_request) {
            const_buffer b(std::string_view("0\r\n\r\n"));
            s->emit(sl_, &b, 1);
        }
        if (s->front_ == sl_) s->advance();
        return;
    }
    std::string& h = c.scratch_;
    detail::build_head(c, *sl_, h, sl_->bad_header ? 0 : static_cast<std::int64_t>(body.size()));
    const bool bodyless =
        sl_->head_request || sl_->status < 200 || sl_->status == 204 || sl_->status == 304;
    if (sl_->bad_header) body = {};
    sl_->head_sent = true;
    sl_->finished = true;
    const_buffer b[2] = {const_buffer(h), const_buffer(body)};
    s->emit(sl_, b, bodyless || body.empty() ? 1 : 2);
    if (!sl_->s) return;
    if (s->front_ == sl_) s->advance();
}

inline bool response::stream_bytes(std::string_view data, bool sse_head) {
    if (!sl_ || !sl_->s || sl_->finished) return false;
    detail::server_session* s = sl_->s;
    detail::server_core& c = *s->core_;
    detail::server_session::ref keep(s);
    if (!sl_->head_sent) {
        if (sse_head) {
            if (!sl_->has_type) header("Content-Type", "text/event-stream");
            header("Cache-Control", "no-cache");
        }
        std::string& h = c.scratch_;
        detail::build_head(c, *sl_, h, -1);
        sl_->head_sent = true;
        sl_->streaming = true;
        const_buffer b(h);
        s->emit(sl_, &b, 1);
        if (!sl_->s) return false;
        if (sl_->bad_header) {
            // The head became a 500 with an empty body: that response is complete.
            sl_->finished = true;
            sl_->streaming = false;
            if (s->front_ == sl_) s->advance();
            return false;
        }
    }
    if (data.empty() || sl_->head_request) return true;
    if (sl_->minor >= 1) {
        char size[24];
        std::size_t n = http::detail::format_uint(data.size(), size, 16);
        size[n++] = '\r';
        size[n++] = '\n';
        const_buffer b[3] = {const_buffer(size, n), const_buffer(data),
                             const_buffer(std::string_view("\r\n"))};
        s->emit(sl_, b, 3);
    } else {
        const_buffer b(data);
        s->emit(sl_, &b, 1);
    }
    return sl_->s != nullptr;
}

inline bool response::write(std::string_view chunk) { return stream_bytes(chunk, false); }

inline bool response::send_event(std::string_view data, std::string_view event,
                                 std::string_view id) {
    if (!sl_ || !sl_->s || sl_->finished) return false;
    std::string ev;
    auto field = [&](std::string_view name, std::string_view v) {
        ev.append(name.data(), name.size());
        ev += ": ";
        ev.append(v.data(), v.size());
        ev += '\n';
    };
    // A field value may not hold a line break: they would start new fields.
    auto one_line = [](std::string_view v) {
        return v.find_first_of("\r\n") == std::string_view::npos;
    };
    if (!one_line(event) || !one_line(id)) return false;
    if (!event.empty()) field("event", event);
    if (!id.empty()) field("id", id);
    for (std::size_t i = 0;;) {
        std::size_t j = data.find_first_of("\r\n", i);
        if (j == std::string_view::npos) {
            field("data", data.substr(i));
            break;
        }
        field("data", data.substr(i, j - i));
        if (data[j] == '\r' && j + 1 < data.size() && data[j + 1] == '\n') ++j;
        i = j + 1;
        if (i == data.size()) break; // a final line break adds no empty data line
    }
    ev += '\n';
    return stream_bytes(ev, true);
}

inline bool response::send_comment(std::string_view text) {
    if (text.find_first_of("\r\n") != std::string_view::npos) return false;
    std::string line = ": ";
    line.append(text.data(), text.size());
    line += "\n\n";
    return stream_bytes(line, true);
}

inline response::takeover response::take_over(std::string_view head) {
    takeover t;
    if (!sl_ || !sl_->s || !sl_->s->take_over(sl_, head, t))
        t.ec = make_error_code(error::not_upgradable);
    return t;
}

inline bool response::write_queue_high() const noexcept {
    if (!sl_ || !sl_->s) return false;
    detail::server_session* s = sl_->s;
    if (s->front_ != sl_) return sl_->pending.size() >= s->core_->settings_.write.high_watermark;
    if (s->batching_) // output gathered for one write at the end of this batch
        return s->core_->batch_.size() + s->stream_.buffered_amount() >=
               s->core_->settings_.write.high_watermark;
    return s->stream_.write_queue_high();
}

inline void response::on_drain(unique_function<void()> cb) {
    if (!sl_ || !sl_->s) return;
    sl_->on_drain = std::move(cb);
    sl_->s->want_drain();
}

// ---- server ----

class server {
  public:
    using handler_type = detail::server_core::handler_type;

    explicit server(loop& l, server_settings settings = {})
        : core_(new detail::server_core(l, std::move(settings))) {}
    server(server&&) noexcept = default;
    server& operator=(server&& o) noexcept {
        if (this != &o) {
            close();
            core_ = std::move(o.core_);
        }
        return *this;
    }
    ~server() { close(); }

    // handler(const request_view&, response&). Set before listen().
    void on_request(handler_type h) { core_->handler_ = std::move(h); }

    std::error_code listen(const endpoint& ep, const listen_options& opt = {}) {
        if (auto ec = core_->listener_.listen(ep, opt)) return ec;
        detail::server_core* c = core_.get();
        core_->listener_.accept_each([c](std::error_code ec, tcp_stream st) {
            if (ec) return; // the listener closed (the core may be gone)
            c->accept(std::move(st));
        });
        return {};
    }

    // Serves a connection accepted elsewhere (a loop_group, an inherited socket). The
    // stream must belong to this server's loop; the connection limit applies.
    void serve(tcp_stream st) {
        if (st.get_loop() != core_->loop_) return; // wrong loop: closed by st's destructor
        core_->accept(std::move(st));
    }

    endpoint local_endpoint(std::error_code& ec) const {
        return core_->listener_.local_endpoint(ec);
    }

    // Graceful: stops accepting; idle connections close now; connections with
    // requests in progress answer them (Connection: close) and close; whatever is
    // left after `grace` is closed.
    template <class Rep, class Period>
    void stop(std::chrono::duration<Rep, Period> grace) {
        if (!core_) return;
        detail::server_core* c = core_.get();
        c->stopping_ = true;
        c->listener_.close();
        for (detail::server_session* s = c->sessions_; s;) {
            detail::server_session* next = s->next_;
            detail::server_session::ref keep(s);
            s->begin_stop();
            s = next; // begin_stop unlinks only `s` itself
        }
        if (c->sessions_) {
            c->grace_timer_ = sluice::timer(*c->loop_);
            c->grace_timer_.start(grace, [c](std::error_code ec) {
                if (!ec) c->close_all();
            });
        }
    }
    void stop() { stop(std::chrono::seconds(5)); }

    // Closes the listener and every connection now.
    void close() {
        if (!core_) return;
        core_->stopping_ = true;
        core_->listener_.close();
        core_->grace_timer_.close();
        core_->close_all();
    }

    std::size_t connections() const noexcept { return core_ ? core_->count_ : 0; }
    std::size_t rejected_connections() const noexcept { return core_ ? core_->rejected_ : 0; }
    std::uint64_t requests() const noexcept { return core_ ? core_->requests_ : 0; }
    const server_settings& settings() const noexcept { return core_->settings_; }

  private:
    std::unique_ptr<detail::server_core> core_;
};

} // namespace http
} // namespace sluice
