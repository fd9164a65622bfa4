// sluice — the coroutine face of WebSocket connections (C++20 builds only).
//
//     task<void> session(ws::connection c) {        // from ws::server::on_open, or:
//         // auto [ec, c] = co_await ws::async_connect(loop, "ws://127.0.0.1:9000/");
//         for (;;) {
//             auto r = co_await ws::read(c);         // result<ws::message>
//             if (!r) break;                         // closed (on_close said why)
//             c.send(r.value.op, r.value.data.data(), r.value.data.size());
//         }
//     }
//
// The same connection as the callback form, in pull mode (no on_message handler): read()
// is the connection's read(message_reader*), and between two reads the connection does not
// read the socket. The message's data is valid until the coroutine next suspends; send()
// never suspends, so echoing it straight back is safe.
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/task.hpp>
#include <sluice/ws/client.hpp>
#include <sluice/ws/connection.hpp>

#include <memory>
#include <string>
#include <utility>

namespace sluice::ws {
namespace detail {

class [[nodiscard]] read_op final : public sluice::detail::io_op<read_op>, public message_reader {
  public:
    explicit read_op(connection c) noexcept : c_(std::move(c)) {}
    read_op(const read_op& o) noexcept : io_op<read_op>(o), message_reader(), c_(o.c_) {}
    ~read_op() {
        if (registered_) c_.impl()->cancel_read(this);
    }

    // A read that cannot start returns at once, without suspending: an empty handle
    // (closed), a connection whose loop is gone (loop_gone: nothing could resume us), or
    // another read pending on it (in_progress).
    std::error_code precheck(const sluice::detail::coro_context&) const noexcept {
        if (!c_) return make_error_code(error::closed);
        return c_.impl()->cannot_read();
    }
    void initiate(const sluice::detail::coro_context&) {
        registered_ = true;
        (void)c_.read(this); // cannot fail: precheck() passed, and nothing ran since
    }
    void on_message(const message* m, std::error_code ec) override {
        registered_ = false;
        if (m) m_ = *m;
        ec_ = ec;
        finish(); // resumes inside the connection's event: the data is still in place
    }
    void on_complete(std::error_code ec) { // cancellation, from a deferred call
        ec_ = ec;
        finish();
    }
    // The loop is being destroyed and the read will never complete: destroy the chain, as
    // a completion handler destroyed uncalled would (this awaiter lives in it).
    void on_dropped() noexcept override {
        registered_ = false;
        abandon();
    }
    void on_cancel() override {
        if (!registered_) return;
        registered_ = false;
        c_.impl()->cancel_read(this);
        loop* l = loop_of();
        l->defer([r = sluice::detail::resumer<read_op>(this)]() mutable {
            r(make_error_code(sluice::error::operation_aborted));
        });
    }
    result<message> await_resume() const noexcept { return {ec_, m_}; }

  private:
    loop* loop_of() const noexcept { return c_.impl()->get_loop(); }
    connection c_;
    message m_{};
    bool registered_ = false;
};

// ws::drained(c): the send queue is back at its low watermark.
class [[nodiscard]] drained_op final : public sluice::detail::io_op<drained_op>,
                                       public drain_waiter {
  public:
    explicit drained_op(connection c) noexcept : c_(std::move(c)) {}
    drained_op(const drained_op& o) noexcept : io_op<drained_op>(o), drain_waiter(), c_(o.c_) {}
    ~drained_op() {
        if (registered_) c_.impl()->cancel_drain(this);
    }
    std::error_code precheck(const sluice::detail::coro_context&) const noexcept {
        if (!c_) return make_error_code(error::closed);
        if (!c_.impl()->get_loop()) return make_error_code(sluice::error::loop_gone);
        return {};
    }
    void initiate(const sluice::detail::coro_context&) {
        // Refused only by another pending wait on this connection.
        if (std::error_code ec = c_.impl()->wait_drain(this)) {
            c_.impl()->get_loop()->defer([r = sluice::detail::resumer<drained_op>(this), ec]() mutable {
                r(ec);
            });
            return;
        }
        registered_ = true;
    }
    void on_drained(std::error_code ec) override {
        registered_ = false;
        ec_ = ec;
        finish();
    }
    void on_complete(std::error_code ec) { // refused, or cancelled: from a deferred call
        ec_ = ec;
        finish();
    }
    void on_dropped() noexcept override {
        registered_ = false;
        abandon();
    }
    void on_cancel() override {
        if (!registered_) return;
        registered_ = false;
        c_.impl()->cancel_drain(this);
        c_.impl()->get_loop()->defer([r = sluice::detail::resumer<drained_op>(this)]() mutable {
            r(make_error_code(sluice::error::operation_aborted));
        });
    }
    std::error_code await_resume() const noexcept { return ec_; }

  private:
    connection c_;
    bool registered_ = false;
};

class connect_op;

// The dial's outcome reaches the awaiter through one resumer shared by the dial's two
// handlers: the first of on_open / on_close resumes the chain, later events find it used.
// If the dial's handlers are destroyed without either having run (only ~loop does that),
// the resumer destroys the chain, as every dropped handler does (docs/guide/lifetimes.md
// rule 4), instead of leaving it suspended for good.
struct connect_slot {
    inline explicit connect_slot(connect_op* op) noexcept; // needs connect_op complete
    sluice::detail::resumer<connect_op> resume;
};

// Holds only pointers to the arguments, which live in async_connect's frame: GCC 12 may
// copy an awaiter's bytes within a coroutine frame, which a std::string does not survive.
class [[nodiscard]] connect_op final : public sluice::detail::io_op<connect_op> {
  public:
    static constexpr bool cancellable = false; // bounded by handshake_timeout instead

    connect_op(loop& l, const std::string& url, client_options& o) noexcept
        : l_(&l), url_(&url), opt_(&o) {}

    std::error_code precheck(const sluice::detail::coro_context&) const noexcept { return {}; }
    void initiate(const sluice::detail::coro_context&) {
        auto slot = std::make_shared<connect_slot>(this);
        handlers h;
        h.on_open = [slot](connection& c) { slot->resume(c, std::error_code()); };
        h.on_close = [slot](connection& c, const close_status& st) {
            slot->resume(c, st.ec ? st.ec : make_error_code(error::closed));
        };
        ws::connect(*l_, *url_, std::move(h), std::move(*opt_));
    }
    void on_complete(connection& c, std::error_code ec) {
        ec_ = ec;
        if (!ec) c_ = c;
        finish();
    }
    result<connection> await_resume() noexcept { return {ec_, std::move(c_)}; }

  private:
    loop* l_;
    const std::string* url_;
    client_options* opt_;
    connection c_;
};

inline connect_slot::connect_slot(connect_op* op) noexcept : resume(op) {}

} // namespace detail

// The next message (pull mode: the server or client has no on_message handler).
[[nodiscard]] inline detail::read_op read(const connection& c) noexcept {
    return detail::read_op(c);
}

// Waits until c's send queue is back at its low watermark (at once, from the loop, if it
// already is): {} then; error::closed when the connection ended first (operation_aborted
// when its server was destroyed), sluice::error::in_progress while another coroutine waits
// on the same connection. Cancellable (with_timeout, a token). Shares nothing with
// connection::on_drain(): both may wait at once.
//     for (auto& m : backlog) {
//         c.send_text(m);
//         if (c.write_queue_high() && co_await ws::drained(c)) break;
//     }
[[nodiscard]] inline detail::drained_op drained(const connection& c) noexcept {
    return detail::drained_op(c);
}

// Dials url; the connection is in pull mode (read it with ws::read).
// A template only to be compiled where used (see sluice::resolve in coro/io.hpp).
template <class Unused = void>
[[nodiscard]] task<result<connection>> async_connect(loop& l, std::string url, client_options opt) {
    co_return co_await detail::connect_op(l, url, opt);
}
// Not a default argument: GCC 12 copies a class-type default argument created inside a
// coroutine's co_await expression bytewise, which breaks its strings.
template <class Unused = void>
[[nodiscard]] task<result<connection>> async_connect(loop& l, std::string url) {
    return async_connect<Unused>(l, std::move(url), client_options{});
}

} // namespace sluice::ws

#endif // SLUICE_HAS_COROUTINES
