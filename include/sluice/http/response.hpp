// sluice — the answer to one request of http::server (http::response), and the place a
// handed-over connection keeps in the server's count (http::connection_slot).
//
// Responses: the handler gets a `response&`. Answer at once (end()), or move the
// response out of the handler and answer later from any callback on the same loop.
// A response dropped without end() is answered 500 (or, once streaming, ended).
// Streaming: write() sends chunks (Transfer-Encoding: chunked), send_event() sends
// Server-Sent Events; end() finishes. Pipelined requests are answered strictly in
// order: output of a later response waits (buffered) until the earlier ones end.
//
// A response is a counted handle on its slot; the slot's link to its connection is
// weak: once the connection is gone (closed, or the server destroyed) the handle stays
// safe to use, is_open() is false and end()/write() do nothing.
#pragma once

#include <sluice/http/core.hpp>
#include <sluice/http/error.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace sluice {
namespace http {
namespace detail {

// One request's place in its connection's response order. Counted: the session's queue
// holds one reference until the response is complete and retired in order, and each
// http::response handle holds one. `s` is the weak link to the session: null once the
// connection is gone or the response is retired.
// A coroutine waiting for a response's output to drain (http::drained): told once that it
// drained ({}), or that the connection went away (sluice::error::not_open); on_dropped()
// when the server is destroyed and the wait will never complete.
class response_drain_waiter {
  public:
    virtual void on_drained(std::error_code ec) = 0;
    virtual void on_dropped() noexcept {}

  protected:
    ~response_drain_waiter() = default;
};

struct response_slot final : ref_counted<response_slot> {
    server_session* s = nullptr;
    response_slot* next = nullptr; // the session's queue
    std::uint16_t status = 200;
    std::uint8_t minor = 1;
    bool head_request = false;
    bool close = false;      // Connection: close, then close after this response
    bool head_sent = false;  // the head is produced (streaming started, or complete)
    bool streaming = false;  // chunked (or close-delimited for HTTP/1.0)
    bool finished = false;   // every byte produced
    bool has_server = false; // the user supplied these
    bool has_date = false;
    bool has_type = false;
    bool bad_header = false;
    // content_length(): the streamed body's announced size (-1: chunked), and how much
    // of it write() sent so far.
    std::int64_t declared_length = -1;
    std::uint64_t streamed = 0;
    std::string reason;
    std::string headers; // serialized user headers
    std::string pending; // output produced while an earlier response is unfinished
    unique_function<void()> on_close;
    unique_function<void()> on_drain;
    response_drain_waiter* waiter = nullptr; // weak: it withdraws itself
};

} // namespace detail

// Keeps a connection that response::take_over() handed away counted in
// server::connections() and against server_settings::max_connections, until it is
// destroyed or reset(). Keep it with the connection (the WebSocket layer keeps it in its
// connection). Move-only; safe to destroy after the server is gone (it then counts
// nothing). Loop thread only.
class connection_slot {
  public:
    connection_slot() noexcept = default;
    connection_slot(connection_slot&& o) noexcept : core_(std::move(o.core_)) {}
    SLUICE_DECL connection_slot& operator=(connection_slot&& o) noexcept;
    connection_slot(const connection_slot&) = delete;
    connection_slot& operator=(const connection_slot&) = delete;
    SLUICE_DECL ~connection_slot();

    // Frees the place now.
    SLUICE_DECL void reset() noexcept;
    explicit operator bool() const noexcept { return static_cast<bool>(core_); }

  private:
    friend class detail::server_session;
    explicit connection_slot(detail::ref<detail::server_core> c) noexcept : core_(std::move(c)) {}
    detail::ref<detail::server_core> core_;
};

// The answer to one request. Move-only handle; see the top of this file.
class response {
  public:
    response() noexcept = default;
    explicit response(detail::ref<detail::response_slot> sl) noexcept : sl_(std::move(sl)) {}
    response(response&& o) noexcept : sl_(std::move(o.sl_)) {}
    // Moving onto a response that is still open answers that one first (as dropping it would).
    SLUICE_DECL response& operator=(response&& o) noexcept;
    response(const response&) = delete;
    response& operator=(const response&) = delete;
    ~response() { reset(); }

    // Before the head is sent (the first end/write/send_event): status and headers.
    // Transfer-Encoding is the server's and is ignored. Content-Length is kept as the
    // body's size (as content_length(n)): a streamed body keeps it instead of chunked
    // framing, a HEAD answer announces it, and a value that is not a length, or an end()
    // body of another size, makes the response a 500. `Connection: close` closes the
    // connection after this response.
    // A name or value that is not allowed on the wire is dropped and the response
    // becomes a 500.
    SLUICE_DECL response& status(unsigned code, std::string_view reason = {});
    SLUICE_DECL response& header(std::string_view name, std::string_view value);

    // Sends the whole response with Content-Length (no body for HEAD, 1xx, 204, 304).
    // After streaming started: ends the stream (the body argument is sent first).
    SLUICE_DECL void end(std::string_view body = {});
    // Streaming: the first call sends the head with Transfer-Encoding: chunked.
    // Returns false when the response can no longer be written (connection gone).
    inline bool write(std::string_view chunk);
    // Before streaming: the body write() sends will be exactly `n` bytes, announced with
    // Content-Length instead of chunked framing (a download whose size is known, streamed
    // as the client drains it). write() then refuses (returns false) bytes past `n`; an
    // end() before `n` bytes were written closes the connection after the response, the
    // only way left to tell the client the body is cut short.
    inline response& content_length(std::uint64_t n);
    // After content_length(n) and the head (a first write(), even empty): body bytes
    // straight from an open file with stream::send_file_now (Linux sendfile(2)), counted
    // against `n`. Only when nothing can come before them: this is the connection's
    // first unfinished response and nothing is waiting to be written (not during the
    // handler's own call, whose output is gathered for one write). Returns the count
    // sent; 0 when it cannot now (write() those bytes instead, or wait for on_drain());
    // -1 when the connection failed.
    SLUICE_DECL long long send_file(int file_fd, std::uint64_t offset, std::size_t n);
    // This response is the connection's first unfinished one and nothing of the
    // connection's output waits to be written: when send_file() still takes nothing, the
    // socket is full.
    SLUICE_DECL bool output_idle() const noexcept;
    // One-shot, for send_file()'s callers: cb() once nothing of the connection's output
    // waits to be written (on the next loop turn if nothing does). False, and cb
    // dropped, when this response is not the first unfinished one or the connection is
    // gone: then use write() and on_drain(). Dropped if the connection closes.
    SLUICE_DECL bool wait_flushed(unique_function<void()> cb);
    // Server-Sent Events (text/event-stream, no-cache). `data` may hold several
    // lines; each becomes a `data:` field. Empty event/id are omitted.
    inline bool send_event(std::string_view data, std::string_view event = {},
                           std::string_view id = {});
    // An SSE comment line (": text"), e.g. a keep-alive ping.
    SLUICE_DECL bool send_comment(std::string_view text);

    // The connection is alive and this response is not finished.
    bool is_open() const noexcept { return sl_ && sl_->s && !sl_->finished; }
    bool head_sent() const noexcept { return sl_ && sl_->head_sent; }
    // Backpressure for streaming: stop producing while true; on_drain() (one-shot)
    // says when to go on. Output waiting behind an earlier unfinished response counts,
    // and past write_limits::hard_cap the connection is closed (no hole in the stream).
    SLUICE_DECL bool write_queue_high() const noexcept;
    SLUICE_DECL void on_drain(unique_function<void()> cb);
    // The coroutine form of on_drain (co_await http::drained(res), server_coro.hpp): one
    // waiter, besides any on_drain callback; refused with in_progress while another waits,
    // or not_open when the connection is gone.
    SLUICE_DECL std::error_code wait_drain(detail::response_drain_waiter* w);
    void cancel_drain(detail::response_drain_waiter* w) noexcept {
        if (sl_ && sl_->waiter == w) sl_->waiter = nullptr;
    }
    // Called once if the connection goes away before the response is finished (not
    // when the server is destroyed: its callbacks are then destroyed uncalled).
    void on_close(unique_function<void()> cb) {
        if (sl_ && sl_->s && !sl_->finished) sl_->on_close = std::move(cb);
    }

    explicit operator bool() const noexcept { return static_cast<bool>(sl_); }

    // Hands the connection over to another protocol (WebSocket, a tunnel). The request must
    // be an upgrade (Upgrade + Connection: upgrade, or CONNECT) without a body, whose
    // response has not started, with every earlier pipelined response finished. Writes
    // `head` (the complete response head, e.g. a 101) and detaches the stream from the
    // server: it is returned with the bytes the client sent after the request, and the
    // server no longer manages it (no timeouts, not closed by stop() or close()). It still
    // counts in connections() and against max_connections while `slot` lives. Otherwise
    // nothing is sent, ec says why (http::error::not_upgradable) and the response is still
    // the caller's to answer.
    struct takeover {
        tcp_stream stream;
        std::string rest;
        connection_slot slot;
        std::error_code ec;
    };
    SLUICE_DECL takeover take_over(std::string_view head);

  private:
    SLUICE_DECL void reset() noexcept;
    SLUICE_DECL bool stream_bytes(std::string_view data, bool sse_head);
    detail::ref<detail::response_slot> sl_;
};

// ---- what needs only the slot ----





inline bool response::write(std::string_view chunk) { return stream_bytes(chunk, false); }

inline response& response::content_length(std::uint64_t n) {
    if (!sl_ || sl_->head_sent || sl_->finished) return *this;
    if (n > static_cast<std::uint64_t>(INT64_MAX))
        sl_->bad_header = true;
    else
        sl_->declared_length = static_cast<std::int64_t>(n);
    return *this;
}

namespace detail {

// The response head into `h`. length < 0: streaming (chunked for HTTP/1.1).
SLUICE_DECL void build_head(server_core& c, response_slot& sl, std::string& h, std::int64_t length);

} // namespace detail
} // namespace http
} // namespace sluice

// The member functions that drive the connection.
#include <sluice/http/session.hpp>

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/response.ipp>
#endif
