// sluice — the coroutine forms of the HTTP server's handlers (C++20 builds only).
//
//     http::on_request_coro(srv, loop, [](http::request req, http::response res) -> task<void> {
//         co_await sleep_for(std::chrono::milliseconds(10));
//         res.end("hello " + std::string(req.path()));
//     });
//
//     http::on_request_stream_coro(srv, loop,
//         [](http::request req, http::body_reader body, http::response res) -> task<void> {
//             std::size_t n = 0;
//             for (;;) {
//                 auto r = co_await body.read(); // result<std::string_view>
//                 if (r.ec == sluice::error::eof) break;
//                 if (r.ec) co_return res.status(http::suggested_status(r.ec)).end();
//                 n += r.value.size();               // valid until the next suspension
//             }
//             res.end(std::to_string(n) + " bytes\n");
//         });
//
// The callback form hands out views valid only during the call; a coroutine outlives
// that call, so it receives an owned copy of the request, and the response (and the
// body reader) move into its frame. Answers still go out in request order (the server
// holds a later response until earlier ones end), so a slow coroutine cannot reorder a
// pipeline.
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/server.hpp>

#if SLUICE_HAS_COROUTINES
#include <sluice/coro/result.hpp>
#include <sluice/coro/spawn.hpp>
#include <sluice/coro/task.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

// A request the handler owns: safe to use across co_await.
struct request {
    std::string method;
    std::string target;
    std::string body; // empty for on_request_stream_coro: read it from the body_reader
    std::vector<std::pair<std::string, std::string>> headers;
    unsigned version_minor = 1;
    bool keep_alive = true;

    static request copy_of(const request_view& v) {
        request r;
        r.method = std::string(v.method());
        r.target = std::string(v.target());
        r.body = std::string(v.body());
        for (const header& h : v) r.headers.emplace_back(std::string(h.name), std::string(h.value));
        r.version_minor = v.version_minor();
        r.keep_alive = v.keep_alive();
        return r;
    }
    std::string_view path() const noexcept {
        return std::string_view(target).substr(0, target.find('?'));
    }
    std::string_view query() const noexcept {
        std::size_t q = target.find('?');
        return q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
    }
    std::string_view get(std::string_view name) const noexcept {
        for (auto& h : headers)
            if (detail::iequals(h.first, name)) return h.second;
        return {};
    }
};

// Installs `handler(request, response) -> task<void>` as the server's handler; each
// request runs as a task spawned on `l` (the server's loop).
template <class F>
void on_request_coro(server& srv, loop& l, F handler) {
    srv.on_request([&l, h = std::move(handler)](const request_view& v, response& res) mutable {
        spawn(l, h(request::copy_of(v), std::move(res)));
    });
}

// Installs `handler(request, body_reader, response) -> task<void>` as the server's
// head-first handler (server::on_request_stream): it starts when the head is complete.
template <class F>
void on_request_stream_coro(server& srv, loop& l, F handler) {
    srv.on_request_stream([&l, h = std::move(handler)](const request_view& v, body_reader& body,
                                                       response& res) mutable {
        spawn(l, h(request::copy_of(v), std::move(body), std::move(res)));
    });
}

namespace detail {

// co_await body.read(). The reader lives in the awaiting frame; the completion resumes
// the coroutine inside the call that delivers the piece, so the view is valid until the
// coroutine next suspends. Cancelling completes the read with operation_aborted.
class body_read_op final : public sluice::detail::io_op<body_read_op> {
  public:
    explicit body_read_op(body_reader& b) noexcept : b_(&b) {}
    std::error_code precheck(const sluice::detail::coro_context&) const noexcept {
        return *b_ ? std::error_code() : make_error_code(sluice::error::not_open);
    }
    void initiate(const sluice::detail::coro_context&) {
        b_->read(sluice::detail::resumer<body_read_op>(this));
    }
    void on_complete(std::error_code ec, std::string_view data) {
        ec_ = ec;
        data_ = data;
        finish();
    }
    void on_cancel() override { b_->cancel(); }
    sluice::result<std::string_view> await_resume() const noexcept { return {ec_, data_}; }

  private:
    body_reader* b_;
    std::string_view data_;
};

// co_await body.read_all(limit): the rest of the body, whole (eof is not an error here:
// an empty result is an empty body). Valid until the coroutine next suspends.
class body_read_all_op final : public sluice::detail::io_op<body_read_all_op> {
  public:
    body_read_all_op(body_reader& b, std::size_t limit) noexcept : b_(&b), limit_(limit) {}
    std::error_code precheck(const sluice::detail::coro_context&) const noexcept {
        return *b_ ? std::error_code() : make_error_code(sluice::error::not_open);
    }
    void initiate(const sluice::detail::coro_context&) {
        b_->read_all(limit_, sluice::detail::resumer<body_read_all_op>(this));
    }
    void on_complete(std::error_code ec, std::string_view data) {
        ec_ = ec;
        data_ = data;
        finish();
    }
    void on_cancel() override { b_->cancel(); }
    sluice::result<std::string_view> await_resume() const noexcept { return {ec_, data_}; }

  private:
    body_reader* b_;
    std::size_t limit_;
    std::string_view data_;
};

// co_await http::drained(res): the response's output is back at the low watermark.
class [[nodiscard]] response_drained_op final : public sluice::detail::io_op<response_drained_op>,
                                                public response_drain_waiter {
  public:
    explicit response_drained_op(response& r) noexcept : res_(&r) {}
    response_drained_op(const response_drained_op& o) noexcept
        : io_op<response_drained_op>(o), response_drain_waiter(), res_(o.res_) {}
    ~response_drained_op() {
        if (registered_) res_->cancel_drain(this);
    }
    std::error_code precheck(const sluice::detail::coro_context& ctx) const noexcept {
        if (!ctx.lp()) return make_error_code(sluice::error::loop_gone); // nowhere to resume
        return res_->is_open() ? std::error_code() : make_error_code(sluice::error::not_open);
    }
    void initiate(const sluice::detail::coro_context& ctx) {
        lp_ = ctx.lp();
        if (std::error_code ec = res_->wait_drain(this)) { // another coroutine waits already
            lp_->defer([r = sluice::detail::resumer<response_drained_op>(this), ec]() mutable {
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
        res_->cancel_drain(this);
        lp_->defer([r = sluice::detail::resumer<response_drained_op>(this)]() mutable {
            r(make_error_code(sluice::error::operation_aborted));
        });
    }
    std::error_code await_resume() const noexcept { return ec_; }

  private:
    response* res_;
    sluice::loop* lp_ = nullptr;
    bool registered_ = false;
};

} // namespace detail

// Waits until the response's output is back at the low watermark (at once, from the loop,
// when it already is): a producer that awaits this whenever res.write_queue_high() never
// outruns a slow client. {} then; sluice::error::not_open when the connection went away
// (the response's on_close has run), in_progress while another coroutine waits on it.
// Cancellable (with_timeout, a token).
//     while (more) {
//         res.write(next_piece());
//         if (res.write_queue_high() && co_await http::drained(res)) co_return;
//     }
[[nodiscard]] inline detail::response_drained_op drained(response& res) noexcept {
    return detail::response_drained_op(res);
}

} // namespace sluice::http
#endif
