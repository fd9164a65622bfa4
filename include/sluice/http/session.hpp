// sluice — one connection of an http::server. Part of <sluice/http/server.hpp>.
//
// Reading: read_start() into the loop's shared buffer, parsed in place. Only a request
// cut by a read boundary is copied (the unparsed bytes, and once a buffered request's
// head is complete, its head and body so far) into a per-connection buffer, freed when
// the request is complete: an idle keep-alive connection owns no read buffer.
//
// A pass (process()) parses what one read brought (or what was held back) and dispatches
// every complete request; the responses they produce are gathered into the session's own
// output batch and leave in one write at the end of the pass. The batch and the header
// array are borrowed from the core for the pass (detail::spare): moved out, so no other
// connection can touch them. A pass runs only from a loop callback of its own connection
// (a read, a timer, a drain, or a pass deferred by a change made elsewhere), never inside
// another connection's pass: ending a response of connection B from A's handler only
// queues B's bytes and defers B's next pass.
//
// Protection: header-read timeout (from the first byte of a request to the end of its
// head: a client trickling bytes is cut off with 408), idle timeout between requests and
// while a body read waits for bytes, limits answered with http::suggested_status() +
// Connection: close, and no reading while the write queue is above its high watermark,
// while too many pipelined requests wait for their responses, or while a streamed body
// has no read pending.
#pragma once

#include <sluice/http/body.hpp>
#include <sluice/http/response.hpp>
#include <sluice/proxy/proxy_protocol.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace http {
namespace detail {

inline constexpr std::int64_t no_deadline = INT64_MAX;

// The states of a connection (phase_) and what moves it between them:
//
//   proxy ───── PROXY header read ─────▶ idle          (settings.proxy_protocol only)
//   idle ────── a request's first byte ─▶ head
//   head ────── head complete ──────────▶ body         (on_request: the body is collected)
//                                       ▶ body_stream  (on_request_stream: its handler ran)
//   body ────── body complete ──────────▶ idle         (on_request runs)
//   body_stream body complete ──────────▶ idle
//   head, body, body_stream, idle
//               a request with Connection: close (or an upgrade) is complete, a parse
//               error, 408, 413, a body_reader left before the end of its body, stop()
//                                       ─▶ answering    (no more requests are read)
//   any of the above
//               a response marked close is complete ─▶ closing (only inside a pass: its
//               bytes leave with the batch) ─▶ lingering (FIN sent; input is discarded)
//   lingering ─ EOF or linger_timeout ──▶ closed
//   any ─────── close_now() (error, timeout, close()), take_over() ─▶ closed
//
// The flags that are not part of the state (bits_) are independent of it: whether a
// read_start subscription is active, whether output is paused by the write queue,
// whether a pass is running or queued, whether the stream's on_drain is armed, whether
// a 100 Continue is owed to the first body read, whether held input needs more bytes.
class server_session final : public ref_counted<server_session>, public sluice::detail::timer_node {
  public:
    enum class phase : std::uint8_t {
        proxy,
        idle,
        head,
        body,
        body_stream,
        answering,
        closing,
        lingering,
        closed,
    };
    enum : std::uint8_t {
        b_reading = 1,        // a read_start subscription of ours is active
        b_paused = 2,         // the write queue passed its high watermark: no new requests
        b_in_pass = 4,        // process() is running: output goes to batch_
        b_pass_queued = 8,    // a deferred pass is queued
        b_drain_armed = 16,   // the stream's on_drain is set
        b_continue_owed = 32, // 100 Continue goes out at the first body read
        b_need_bytes = 64,    // held input is an incomplete piece: only more bytes help
    };

    SLUICE_DECL server_session(server_core* c, tcp_stream st);

    SLUICE_DECL void start();

    bool has(std::uint8_t b) const noexcept { return (bits_ & b) != 0; }
    void set(std::uint8_t b, bool on) noexcept {
        bits_ = static_cast<std::uint8_t>(on ? bits_ | b : bits_ & ~b);
    }
    bool open() const noexcept { return phase_ < phase::closing; }
    std::int64_t now() const noexcept { return core_->loop_->now_us(); }

    // ---- output, in request order ----

    // Bytes of `sl`: to the socket (or the batch) when sl is the oldest unfinished
    // response, else kept in sl->pending (bounded by the write queue's hard cap).
    SLUICE_DECL void emit(response_slot* sl, const const_buffer* bufs, std::size_t n);

    SLUICE_DECL void output(const const_buffer* bufs, std::size_t n);

    SLUICE_DECL void flush_batch();

    // A write the stream refused closed it (or output piled up past the cap): close from
    // the loop, not inside the response call or pass that wrote.
    SLUICE_DECL void fail_soon(std::error_code ec);

    // The front may have finished: retire finished responses in order and let the
    // next one's buffered output go.
    SLUICE_DECL void advance();

    // ---- reading ----

    bool can_take_requests() const noexcept {
        return !has(b_paused) && dispatched() < core_->settings_.max_pipelined;
    }

    SLUICE_DECL bool want_read() const noexcept;

    // Held input can make progress in a pass now.
    SLUICE_DECL bool needs_pass() const noexcept;

    SLUICE_DECL void update_reading();

    // Something changed outside a pass (a response ended, a body read was asked for,
    // the write queue drained): go on as far as the state allows.
    SLUICE_DECL void kick();

    SLUICE_DECL void schedule_pass();

    SLUICE_DECL void run_held();

    SLUICE_DECL void on_read(std::uint32_t gen, std::error_code ec, std::string_view data);

    // Before any HTTP when settings_.proxy_protocol is on. An incomplete header waits in
    // part_->raw (bounded: proxy::parse fails past its size limits).
    SLUICE_DECL void on_proxy_header(std::string_view data);

    // ---- a pass: parse [p, p+len), dispatch every complete request ----

    SLUICE_DECL void process(const char* p, std::size_t len, bool from_raw);

    SLUICE_DECL void end_pass(const char* cur, const char* end, bool from_raw);

    SLUICE_DECL void on_head(const char* begin, std::size_t n, const char* cur, const char* end);

    SLUICE_DECL void on_body(std::string_view d);

    SLUICE_DECL void on_done(const char* cur, const char* end);

    SLUICE_DECL phase after_request() const noexcept;

    // A parse error (or a limit) while receiving a request: its answer closes.
    SLUICE_DECL void on_parse_error();

    // Answers the request being received with `status` and closes after it.
    SLUICE_DECL void refuse(int status);

    SLUICE_DECL void answer_error(response_slot* sl, int status);

    // ---- streamed bodies (impl/session.hpp) ----

    SLUICE_DECL void dispatch_stream(response_slot* sl, const char* cur, const char* end);
    SLUICE_DECL void deliver(std::string_view d);
    SLUICE_DECL void finish_body();
    SLUICE_DECL void fail_body(std::error_code ec, bool inline_ok);
    static SLUICE_DECL void complete_later(server_core& c, body_state::handler_type h,
                                           std::error_code ec);
    SLUICE_DECL void body_read_started();
    SLUICE_DECL void body_dropped();
    SLUICE_DECL void abandon_body();
    // The unread rest of the body being received may be read and dropped (within
    // settings_.max_discarded_body), so that the connection can go on.
    SLUICE_DECL bool may_discard_body() const noexcept;
    // Before `sl`'s head is built: when it answers the request whose body is still coming,
    // unread, and more of it than may be discarded, the connection will close after it,
    // so the head says so.
    SLUICE_DECL void note_unread_body(response_slot* sl) noexcept;

    // No further request on this connection: close once the responses are out.
    SLUICE_DECL void close_after_responses();

    // ---- where a request's bytes are kept between passes ----

    struct partial {
        std::string raw;             // unparsed input
        std::string head;            // a buffered request's head (its views point here)
        std::string body;            // its body so far, when it spans reads or chunks
        std::vector<header> headers; // its header array, rebased onto `head`
    };

    SLUICE_DECL partial& ensure_part();
    bool head_copied() const noexcept { return part_ && !part_->head.empty(); }
    bool body_copied() const noexcept { return part_ && !part_->body.empty(); }

    SLUICE_DECL void point_headers(std::vector<header>& h);

    // Keeps what the request in progress still needs; frees the buffer when none is.
    SLUICE_DECL void stash(const char* cur, const char* end, bool from_raw);

    // ---- handing over, timeouts, closing (impl/session.hpp) ----

    SLUICE_DECL bool take_over(response_slot* sl, std::string_view head, response::takeover& out);
    SLUICE_DECL std::int64_t deadline() const noexcept;
    SLUICE_DECL void rearm();
    SLUICE_DECL void on_timer() override;
    SLUICE_DECL void begin_closing();
    SLUICE_DECL void final_flushed();
    SLUICE_DECL void close_now(std::error_code reason, bool notify);
    SLUICE_DECL void begin_stop();
    SLUICE_DECL void detach_all(bool notify);

    SLUICE_DECL void want_drain();

    SLUICE_DECL void on_drained();

    std::size_t dispatched() const noexcept { return queued_ - (cur_ ? 1 : 0); }

    // The queue holds one reference per slot.
    SLUICE_DECL void push(response_slot* sl);

    SLUICE_DECL void unlink_tail(response_slot* sl);

    ref<server_core> core_;
    server_session* prev_ = nullptr; // the core's list
    server_session* next_ = nullptr;
    tcp_stream stream_;
    message msg_;
    parser parser_;
    std::unique_ptr<partial> part_;
    // The client a PROXY header named (allocated only then).
    std::unique_ptr<endpoint> proxied_client_;
    response_slot* front_ = nullptr; // oldest unfinished response
    response_slot* back_ = nullptr;
    response_slot* cur_ = nullptr; // the buffered request being received (it is back_)
    std::size_t queued_ = 0;
    ref<body_state> body_;        // the streamed body being received
    std::string batch_;           // borrowed from the core while a pass gathers output
    std::vector<header> headers_; // borrowed from the core for a pass
    std::vector<header> no_headers_;
    std::string_view body_view_; // a buffered body so far
    const char* head_begin_ = nullptr;
    std::size_t head_len_ = 0;
    // While an upgrade request is dispatched: the input after it (for take_over).
    const char* rest_begin_ = nullptr;
    const char* rest_end_ = nullptr;
    std::int64_t last_activity_ = 0, request_start_ = 0, closing_since_ = 0;
    std::uint32_t read_gen_ = 0;
    phase phase_ = phase::idle;
    std::uint8_t bits_ = 0;
};

} // namespace detail
} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/session.hpp>
#endif
#include <sluice/http/impl/server.hpp>

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/session.ipp>
#endif
