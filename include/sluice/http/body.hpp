// sluice — a request body read as it arrives (http::body_reader), for the handlers that
// server::on_request_stream() installs.
//
// The handler runs as soon as the head is complete and gets a body_reader. read(handler)
// asks for the next piece; handler(ec, chunk) runs once, from the loop:
//   - no error: `chunk` is the next piece of the body (never empty), valid only during
//     the call;
//   - sluice::error::eof: the body is complete (`chunk` is empty); later reads say eof
//     again;
//   - another error: the body cannot be read to its end, and the connection closes after
//     the response. http::error::* for a malformed chunked body or one over a limit
//     (body_too_large: limits.max_body, or read_all's limit), to be answered with
//     http::suggested_status(ec); error::timed_out when no byte came for idle_timeout;
//     http::error::unexpected_eof when the client closed first; error::operation_aborted
//     after cancel(), or when the connection closed or the server was destroyed.
// One read at a time: a second one completes with error::in_progress. Backpressure:
// while no read is pending the connection reads nothing from its socket, so a handler
// that reads slowly holds at most one socket read of body in memory.
//
// read_all(limit, handler) collects the rest of the body and calls handler(ec, body) once,
// `body` valid during the call: buffering, chosen per request. A Content-Length above
// `limit` fails at once with http::error::body_too_large, before any of the body is
// read; a chunked body fails as soon as it passes the limit. Without a limit:
// server_settings::max_buffered_body.
//
// Destroying the reader before the end of the body (or leaving it in the handler
// unread) skips the part already received, and the rest is read and dropped as it comes
// while it stays within server_settings::max_discarded_body (256 KiB), so the connection
// can take the next request. Past that the connection closes after the response, which
// says Connection: close when it is given while more than that is known to be unread.
// A read pending at that moment completes with operation_aborted. A request without a
// body gives a reader whose first read says eof.
//
// The reader holds a counted reference to the body's state; the state's link to its
// connection is weak, so a reader kept after the connection or the server is gone stays
// safe to use (its reads complete with the reason, or are dropped if the loop is gone).
#pragma once

#include <sluice/http/core.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace sluice {
namespace http {
namespace detail {

#if SLUICE_HAS_COROUTINES
class body_read_op;     // server_coro.hpp
class body_read_all_op; // server_coro.hpp
#endif

// Shared by the body_reader and, while the body is being received, its session.
struct body_state final : ref_counted<body_state> {
    using handler_type = unique_function<void(std::error_code, std::string_view)>;

    explicit body_state(ref<server_core> c) noexcept : core(std::move(c)) {}

    ref<server_core> core;                 // its loop runs the completions that cannot run inline
    server_session* s = nullptr;           // weak: the session receiving this body, until it ends
    handler_type handler;                  // the pending read (or read_all)
    std::error_code result;                // once detached: eof, or why the body cannot be read
    std::uint64_t length = unknown_length; // Content-Length
    std::uint64_t received = 0;            // body bytes handed to the reader (or collected)
    std::uint64_t discarded = 0;           // body bytes dropped after the reader went
    std::uint64_t default_limit = 0;       // read_all without a limit
    std::uint64_t limit = 0;               // the pending read_all's
    std::string all;                       // what read_all collected (when it spans pieces)
    std::string_view all_view;             // ... or the one piece it is, still in the input
    bool all_mode = false;                 // the pending read is a read_all
    bool dropped = false;                  // the reader is gone

    static constexpr std::uint64_t unknown_length = ~std::uint64_t(0);
};

} // namespace detail

class body_reader {
  public:
    using handler_type = detail::body_state::handler_type;

    body_reader() noexcept = default;
    explicit body_reader(detail::ref<detail::body_state> st) noexcept : st_(std::move(st)) {}
    body_reader(body_reader&& o) noexcept : st_(std::move(o.st_)) {}
    body_reader& operator=(body_reader&& o) noexcept {
        if (this != &o) {
            reset();
            st_ = std::move(o.st_);
        }
        return *this;
    }
    body_reader(const body_reader&) = delete;
    body_reader& operator=(const body_reader&) = delete;
    ~body_reader() { reset(); }

    // The next piece: handler(ec, chunk); see the top of this file.
    SLUICE_DECL void read(handler_type handler);
    // The rest of the body, whole: handler(ec, body).
    SLUICE_DECL void read_all(std::size_t limit, handler_type handler);
    void read_all(handler_type handler) {
        read_all(st_ ? static_cast<std::size_t>(st_->default_limit) : 0, std::move(handler));
    }
    // Cancels a pending read: its handler gets operation_aborted, from the loop. Returns
    // false when none was pending. The body can be read on afterwards.
    SLUICE_DECL bool cancel();
    // Gives the body up now (as destroying the reader does).
    SLUICE_DECL void reset() noexcept;

    // The whole body has arrived (the next read says eof).
    bool done() const noexcept { return st_ && !st_->s && st_->result == sluice::error::eof; }
    // Body bytes handed to read() handlers so far.
    std::uint64_t received() const noexcept { return st_ ? st_->received : 0; }
    // The Content-Length, or -1 when the body is chunked.
    std::int64_t length() const noexcept {
        return st_ && st_->length != detail::body_state::unknown_length
                   ? static_cast<std::int64_t>(st_->length)
                   : -1;
    }
    explicit operator bool() const noexcept { return static_cast<bool>(st_); }

#if SLUICE_HAS_COROUTINES
    // co_await body.read(): result<std::string_view>, the data valid until the coroutine
    // next suspends; eof ends the body. co_await body.read_all(limit): the same with the
    // whole rest of the body. (The awaiters live in <sluice/http/server_coro.hpp>.)
    template <class Op = detail::body_read_op>
    [[nodiscard]] Op read() noexcept {
        return Op(*this);
    }
    template <class Op = detail::body_read_all_op>
    [[nodiscard]] Op read_all(std::size_t limit) noexcept {
        return Op(*this, limit);
    }
    template <class Op = detail::body_read_all_op>
    [[nodiscard]] Op read_all() noexcept {
        return Op(*this, st_ ? static_cast<std::size_t>(st_->default_limit) : 0);
    }
#endif

  private:
    detail::ref<detail::body_state> st_;
};

// A reader at the end of an empty body, for a request that reached a handler without one
// (on_request, or the bodiless handler of on_request_stream's two-handler form): read()
// completes with eof and read_all() with "" from the loop, as for a streamed request
// without a body. Empty (it reads nothing) for a request_view no server made.
SLUICE_DECL body_reader bodiless_body(const request_view& req);

} // namespace http
} // namespace sluice

// The member functions that drive the connection.
#include <sluice/http/session.hpp>
