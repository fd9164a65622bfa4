// sluice — a small HTTP/1.1 server on the loop (callback form).
//
//     sluice::http::server srv(loop);
//     srv.on_request([](const http::request_view& req, http::response& res) {
//         res.status(200).header("Content-Type", "text/plain").end("hi");
//     });
//     srv.listen(sluice::endpoint::any_v4(8080));
//
// Thin glue over tcp_listener/tcp_stream and the sans-I/O parser and serializer:
//   - core.hpp     settings, request_view, what the connections share
//   - response.hpp http::response (see there for answering, streaming, take_over)
//   - body.hpp     http::body_reader (request bodies streamed with backpressure)
//   - session.hpp  one connection: reading, pipelining, timeouts, closing
//
// Two handler forms:
//   - on_request(handler(req, res)): the handler runs once the whole body has arrived
//     (req.body()); server_settings::max_buffered_body (1 MiB) bounds it (413).
//   - on_request_stream(handler(req, body, res)): the handler runs as soon as the head
//     is complete; the body is read from the body_reader piece by piece, with
//     backpressure, or whole with body.read_all(limit, cb). When both are set, this one
//     wins: it sees every request and chooses per request how to read the body.
// A coroutine form of each is in <sluice/http/server_coro.hpp>.
//
// Ownership (docs/guide/lifetimes.md): the server handle, each connection, the
// listener's and the grace timer's handlers, and each handed-over connection's
// connection_slot hold counted references to the server's core; responses and body
// readers hold counted references to their own state, with weak links to the
// connection. Destroying the server closes every connection: pending body reads complete
// with operation_aborted from the loop; the handlers and on_close/on_drain callbacks are
// destroyed without being called; responses and readers kept by the user stay safe.
// Everything runs on the loop's thread.
#pragma once

#include <sluice/http/impl/server.hpp>
#include <sluice/http/session.hpp>

#include <chrono>
#include <vector>

namespace sluice {
namespace http {

class server {
  public:
    using handler_type = detail::server_core::handler_type;
    using stream_handler_type = detail::server_core::stream_handler_type;

    explicit server(loop& l, server_settings settings = {})
        : core_(detail::make_ref<detail::server_core>(l, std::move(settings))) {}
    server(server&&) noexcept = default;
    SLUICE_DECL server& operator=(server&& o) noexcept;
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server() { destroy(); }

    // handler(const request_view&, response&), once the whole body has arrived.
    void on_request(handler_type h) {
        if (core_) core_->handler_ = std::move(h);
    }
    // handler(const request_view&, body_reader&, response&), once the head is complete.
    // Takes precedence over on_request() (see the top of this file).
    void on_request_stream(stream_handler_type h) {
        if (!core_) return;
        core_->stream_handler_ = std::move(h);
        core_->bodiless_handler_ = nullptr;
    }
    // The same, except that requests without a body (no Content-Length above 0, not
    // chunked) go to `bodiless` instead, once parsed, as on_request()'s do: that path
    // skips the body reader, about 130 instructions a request. For handlers that can
    // answer those without one (the router); bodiless_body(req) gives one at its end.
    void on_request_stream(stream_handler_type h, handler_type bodiless) {
        if (!core_) return;
        core_->stream_handler_ = std::move(h);
        core_->bodiless_handler_ = std::move(bodiless);
    }

    SLUICE_DECL std::error_code listen(const endpoint& ep, const listen_options& opt = {});

    // Serves a connection accepted elsewhere (a loop_group, an inherited socket). The
    // stream must belong to this server's loop; the connection limit applies.
    SLUICE_DECL void serve(tcp_stream st);

    endpoint local_endpoint(std::error_code& ec) const {
        return core_->listener_.local_endpoint(ec);
    }

    // Graceful: stops accepting; idle connections close now; connections with
    // requests in progress answer them (Connection: close) and close; whatever is
    // left after `grace` is closed.
    template <class Rep, class Period>
    void stop(std::chrono::duration<Rep, Period> grace) {
        stop_within(std::chrono::duration_cast<std::chrono::microseconds>(grace));
    }
    void stop() { stop(std::chrono::seconds(5)); }

    // Closes the listener and every connection now (on_close callbacks of unfinished
    // responses run).
    SLUICE_DECL void close();

    // Open connections, plus handed-over ones whose connection_slot lives.
    std::size_t connections() const noexcept { return core_ ? core_->count_ : 0; }
    std::size_t rejected_connections() const noexcept { return core_ ? core_->rejected_ : 0; }
    std::uint64_t requests() const noexcept { return core_ ? core_->requests_ : 0; }
    const server_settings& settings() const noexcept { return core_->settings_; }

  private:
    SLUICE_DECL void stop_within(std::chrono::microseconds grace);
    // Closes everything; the handlers and callbacks go uncalled.
    SLUICE_DECL void destroy() noexcept;

    detail::ref<detail::server_core> core_;
};

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/server.ipp>
#endif
