// sluice — a pooled keep-alive HTTP/1.1 client, http:// and https://.
//
//     sluice::http::client c(loop);
//     c.get("http://127.0.0.1:8080/items", [](std::error_code ec, http::client_response r) {...});
//
// Connections are kept per origin (scheme, host and port: http and https never share one)
// and reused: at most
// max_connections_per_origin are open to one origin; requests beyond that wait in a queue of
// at most max_queued_per_origin, and one more fails at once with error::queue_full. A
// connection back in the pool is watched: bytes or end of stream from the server while it
// is idle mean it is unusable, and it is closed. Requests with an idempotent method (GET,
// HEAD, PUT, DELETE, OPTIONS, TRACE) whose reused connection fails before any byte of the
// response arrived are retried once on a fresh connection: the server may have closed it
// just as the request went out.
//
// Bodies: in memory (client_request::body), or pulled piece by piece from a producer,
// only while the connection's write queue is below its high watermark (so at most about
// one watermark of it is buffered), with Content-Length when the total is known, chunked
// otherwise. The response body is collected up to max_response, or handed piece by piece to
// client_request::on_body as it is read (never held).
//
// Redirects (301, 302, 303, 307, 308) are followed up to max_redirects. 303, and 301/302 of
// a POST, become a GET without body; 307/308 keep the method and the body, which a producer
// cannot give twice: such a redirect is then returned as the response. Authorization and
// Cookie are not sent to another origin (http:// and https:// of one host are two).
//
// https:// runs over TLS made by client_settings::tls (e.g. a tls::openssl::client_context:
// it verifies the server for the URL's host, sends that as SNI, and resumes sessions per
// host and port); without one, an https:// request fails with
// std::errc::protocol_not_supported. connect_timeout covers the handshake too.
//
// Exactly once (docs/guide/lifetimes.md): every request's handler runs once, from the loop,
// never inside request(): with the response, an error, or operation_aborted when cancelled,
// closed or destroyed. A handler may start new requests or destroy the client.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/util/ref.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#if SLUICE_HAS_COROUTINES
#include <sluice/coro/result.hpp>
#include <sluice/coro/task.hpp>
#endif

namespace sluice::http {

struct client_settings {
    std::size_t max_connections_per_origin = 6;
    // Requests waiting for a connection to one origin (beyond those a connect in progress
    // will serve); one more fails at once with error::queue_full.
    std::size_t max_queued_per_origin = 256;
    // Idle connections kept, all origins together; the oldest is closed beyond it.
    std::size_t max_idle = 32;
    std::chrono::milliseconds connect_timeout{10000}; // name lookup + TCP connect + TLS
    // From request() to the handler, redirects and retries included (0: none).
    std::chrono::milliseconds request_timeout{60000};
    std::chrono::milliseconds idle_timeout{30000}; // an unused pooled connection is closed
    unsigned max_redirects = 5;                    // one more: error::too_many_redirects
    // A collected response (head + body); a streamed body (on_body) has no limit.
    std::size_t max_response = 16 * 1024 * 1024;
    std::uint32_t max_response_head = 64 * 1024;
    // The producer is asked for more only while the write queue is below high_watermark.
    sluice::write_limits write{};
    std::shared_ptr<tls::context> tls; // for https:// URLs
};

// Fills `piece` (given empty) with the next bytes of the request body; returns false with
// the last piece (which may be empty). Runs on the loop thread.
using body_producer = unique_function<bool(std::string& piece)>;
// A piece of the response body, valid during the call.
using body_consumer = unique_function<void(std::string_view piece)>;

struct client_request {
    std::string method = "GET";
    std::string url; // http[s]://host[:port]/path?query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                 // in memory (sent with Content-Length)
    body_producer producer;           // or pulled piece by piece (body stays empty)
    std::int64_t content_length = -1; // of the producer's body when known; chunked otherwise
    body_consumer on_body;            // when set, the response body goes here, not to .body
};

namespace detail {

class client_core;
class client_op;

// One pooled connection. Counted: the stream's and the idle timer's handlers hold it.
class pooled_conn final : public sluice::detail::ref_counted<pooled_conn> {
  public:
    pooled_conn(loop& l, sluice::detail::ref<client_core> core, std::string origin)
        : stream_(l), idle_timer_(l), core_(std::move(core)), origin_(std::move(origin)) {}

    SLUICE_DECL void on_read(std::error_code ec, std::string_view data);

    tcp_stream stream_;
    timer idle_timer_; // while a TLS connection connects: its connect_timeout
    sluice::detail::ref<client_core> core_;
    std::string origin_;
    sluice::detail::ref<client_op> op_;       // the exchange running on it
    sluice::detail::ref<client_op> reserved_; // a retry waiting for this connect
    bool connected_ = false, closed_ = false, counts_connecting_ = false, idle_ = false;
};

// One request, from request() to its handler, across retries and redirects.
class client_op final : public sluice::detail::ref_counted<client_op> {
  public:
    using op_ref = sluice::detail::ref<client_op>;

    SLUICE_DECL client_op(loop& l, sluice::detail::ref<client_core> core, std::uint64_t id,
                          client_request req, fetch_handler h);

    // Parses the URL and builds the request head; an error fails the request.
    SLUICE_DECL std::error_code prepare(std::string_view url);
    SLUICE_DECL void start_on(sluice::detail::ref<pooled_conn> c, bool reused);
    SLUICE_DECL void on_data(std::error_code ec, std::string_view data);
    SLUICE_DECL void finish(std::error_code ec);
    bool pending() const noexcept { return static_cast<bool>(handler_); }

    std::uint64_t id_;
    std::string origin_;
    url_parts url_;
    timer timer_;
    sluice::detail::ref<pooled_conn> conn_;

  private:
    SLUICE_DECL void pump_body();
    SLUICE_DECL void attempt_failed(std::error_code ec);
    SLUICE_DECL void response_done(bool reusable);
    SLUICE_DECL void follow_redirect();
    SLUICE_DECL bool is_followed_redirect() const;
    std::size_t held() const noexcept { return head_bytes_ + res_.body.size() + buf_.size(); }

    sluice::detail::ref<client_core> core_;
    client_request req_;
    fetch_handler handler_; // empty once finished
    std::string head_;      // the serialized request head, kept for a retry
    message_storage<64> msg_;
    parser parser_;
    std::string buf_, piece_;
    client_response res_;
    std::size_t head_bytes_ = 0;
    std::uint64_t produced_ = 0;
    unsigned redirects_ = 0;
    bool reused_ = false, got_bytes_ = false, retried_ = false, producer_done_ = true,
         following_ = false, chunked_ = false;
};

// What the client handle, its connections and its requests share.
class client_core final : public sluice::detail::ref_counted<client_core> {
  public:
    using conn_ref = sluice::detail::ref<pooled_conn>;
    using op_ref = sluice::detail::ref<client_op>;

    client_core(loop& l, client_settings s) : loop_(l), s_(std::move(s)) {}

    SLUICE_DECL void submit(op_ref op);
    SLUICE_DECL void retry_fresh(op_ref op);
    SLUICE_DECL void forget(client_op& op);
    SLUICE_DECL void release(conn_ref c, bool reusable);
    SLUICE_DECL void drop(const conn_ref& c); // closes it, then serves the queue
    SLUICE_DECL void on_connected(const conn_ref& c, std::error_code ec);
    SLUICE_DECL void close();

    struct origin_state {
        std::string host;
        std::uint16_t port = 80;
        bool secure = false;
        std::size_t open = 0, connecting = 0;
        std::deque<op_ref> waiting;
    };

    loop& loop_;
    client_settings s_;
    std::map<std::string, origin_state> origins_;
    std::vector<conn_ref> conns_; // every open connection
    std::vector<conn_ref> idle_;  // oldest first
    std::map<std::uint64_t, op_ref> ops_;
    std::uint64_t next_id_ = 1, opened_ = 0;
    bool closed_ = false;

  private:
    SLUICE_DECL void pump(const std::string& origin);
    SLUICE_DECL conn_ref open_conn(origin_state& o, const std::string& origin);
    SLUICE_DECL void close_conn(const conn_ref& c);
    SLUICE_DECL void tidy(const std::string& origin);
    int depth_ = 0; // pump() calls in progress: origins are erased only outside them
};

// client::request() and the awaiter both start requests here.
SLUICE_DECL std::uint64_t start_request(const sluice::detail::ref<client_core>& core,
                                        client_request req, fetch_handler handler);
SLUICE_DECL bool cancel_request(const sluice::detail::ref<client_core>& core, std::uint64_t id);

} // namespace detail

class client {
  public:
    explicit client(loop& l, client_settings s = {})
        : core_(sluice::detail::make_ref<detail::client_core>(l, std::move(s))) {}
    client(client&&) noexcept = default;
    client& operator=(client&& o) noexcept {
        if (this != &o) {
            close();
            core_ = std::move(o.core_);
        }
        return *this;
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client() { close(); }

    // Starts a request; handler(ec, response) runs once, from the loop. Any status is a
    // success here: check response.status. Returns an id for cancel().
    std::uint64_t request(client_request req, fetch_handler handler) {
        return detail::start_request(core_, std::move(req), std::move(handler));
    }
    std::uint64_t get(std::string url, fetch_handler handler) {
        client_request r;
        r.url = std::move(url);
        return request(std::move(r), std::move(handler));
    }
    // The request's handler gets operation_aborted. False when it already finished.
    bool cancel(std::uint64_t id) { return detail::cancel_request(core_, id); }
    // Every outstanding request completes with operation_aborted; every connection closes.
    // Later requests fail with operation_aborted.
    SLUICE_DECL void close();

    std::size_t open_connections() const noexcept { return core_ ? core_->conns_.size() : 0; }
    std::size_t idle_connections() const noexcept { return core_ ? core_->idle_.size() : 0; }
    std::uint64_t connections_opened() const noexcept { return core_ ? core_->opened_ : 0; }
    loop* get_loop() const noexcept { return core_ ? &core_->loop_ : nullptr; }
    const sluice::detail::ref<detail::client_core>& core() const noexcept { return core_; }

  private:
    sluice::detail::ref<detail::client_core> core_;
};

#if SLUICE_HAS_COROUTINES
namespace detail {
class [[nodiscard]] request_awaiter final
    : public sluice::detail::io_op<request_awaiter> {
  public:
    request_awaiter(client& c, client_request r) : core_(c.core()), req_(std::move(r)) {}
    std::error_code precheck(const sluice::detail::coro_context&) const noexcept {
        if (!core_ || core_->closed_) return make_error_code(sluice::error::operation_aborted);
        return {};
    }
    void initiate(const sluice::detail::coro_context&) {
        id_ = start_request(core_, std::move(req_), sluice::detail::resumer<request_awaiter>(this));
    }
    void on_complete(std::error_code ec, client_response r) {
        ec_ = ec;
        res_ = std::move(r);
        finish();
    }
    void on_cancel() override { cancel_request(core_, id_); }
    sluice::result<client_response> await_resume() noexcept { return {ec_, std::move(res_)}; }
    sluice::loop* hint_loop() const noexcept { return core_ ? &core_->loop_ : nullptr; }

  private:
    sluice::detail::ref<client_core> core_;
    client_request req_;
    std::uint64_t id_ = 0;
    client_response res_;
};
} // namespace detail
using request_awaiter_t = detail::request_awaiter;

// co_await http::co_request(c, req): result<client_response>; cancelling the awaiting chain
// cancels the request. (http::request is the server's owned request.)
inline request_awaiter_t co_request(client& c, client_request req) { return {c, std::move(req)}; }
inline request_awaiter_t co_get(client& c, std::string url) {
    client_request r;
    r.url = std::move(url);
    return {c, std::move(r)};
}
#endif

} // namespace sluice::http

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/pool.ipp>
#endif
