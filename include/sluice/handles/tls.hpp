// sluice — TLS streams: a tls_stream IS a tcp_stream whose bytes pass through a TLS engine
// (tls/engine.hpp) inside the stream, so every layer written over sluice::stream (the HTTP
// server, WebSocket, fetch) runs over TLS unchanged. The engine comes from a tls::context
// (an adapter such as <sluice/tls/openssl.hpp>); this file needs no TLS library.
//
// A stream is handed out only once its handshake is done: tls_listener gives the
// accept handler handshaken streams, tls_stream::connect completes after the handshake.
// Reads then return plaintext (error::eof after the peer's close_notify;
// tls::error::truncated when the connection ends without one), writes take plaintext,
// close() and shutdown_write() send close_notify. A TLS failure (a handshake refused, a
// record that does not authenticate, the handshake timeout) fails the stream as in
// stream_impl.hpp: closed with a reset, pending operations complete with the error.
// Because TLS records are numbered, cancelling any queued write fails the stream.
// See docs/guide/tls.md.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/tls/engine.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace sluice {

struct tls_options {
    // From the TCP connection to the end of the handshake; then error::timed_out.
    std::chrono::milliseconds handshake_timeout{10000};
    connect_options connect; // a client's TCP connect
};

// Connects `s` (fresh) to host:port, then handshakes as a client of ctx, which sends `host`
// as SNI and (when it verifies) checks the certificate against it: handler(ec) once, after
// the handshake; tls::error::verify_failed when the certificate does not check out. The
// layers that own a tcp_stream (the WebSocket client) use this; tls_stream::connect is it.
template <class H>
void tls_connect(tcp_stream& s, std::string host, std::uint16_t port,
                 std::shared_ptr<tls::context> ctx, H&& handler, const tls_options& opt = {});

class tls_stream : public tcp_stream {
  public:
    tls_stream() noexcept = default;
    explicit tls_stream(loop& l) : tcp_stream(l) {}
    // A stream whose TLS is running or done (what tls_listener hands out).
    explicit tls_stream(tcp_stream&& s) noexcept : tcp_stream(std::move(s)) {}

    // Connects to host:port, then handshakes as a client of ctx, which sends `host` as SNI
    // and (when it verifies) checks the certificate against it. handler(ec) once, after
    // the handshake: tls::error::verify_failed when the certificate does not check out.
    template <class H>
    void connect(std::string host, std::uint16_t port, std::shared_ptr<tls::context> ctx,
                 H&& handler, const tls_options& opt = {}) {
        tls_connect(*this, std::move(host), port, std::move(ctx), std::forward<H>(handler), opt);
    }
    // To an address; the certificate is checked against `host` (a name, or the address).
    template <class H>
    void connect(const endpoint& ep, std::string host, std::shared_ptr<tls::context> ctx,
                 H&& handler, const tls_options& opt = {}) {
        io_handler h = detail::ec_only(std::forward<H>(handler));
        if (auto ec = cannot_connect()) return fail(std::move(h), ec);
        const std::uint16_t port = ep.port();
        impl_->start_connect(std::vector<endpoint>{ep},
                             then_handshake(impl_ref(), std::move(ctx), std::move(host), port,
                                            std::move(h), opt),
                             opt.connect);
    }

    // What the handshake settled (empty before it ends).
    std::string alpn() const { return engine() ? engine()->alpn() : std::string(); }
    std::string server_name() const { return engine() ? engine()->server_name() : std::string(); }
    bool session_reused() const { return engine() && engine()->session_reused(); }
    // The TLS library's words for the last failure ("" when none).
    std::string tls_error() const { return engine() ? engine()->last_error() : std::string(); }
    tls::engine* engine() const noexcept { return impl_ ? impl_->tls_engine() : nullptr; }

  private:
    template <class H>
    friend void tls_connect(tcp_stream&, std::string, std::uint16_t, std::shared_ptr<tls::context>,
                            H&&, const tls_options&);
    // The connect's completion: on success, the handshake starts and `h` waits for it.
    static io_handler then_handshake(detail::ref<detail::stream_impl> s,
                                     std::shared_ptr<tls::context> ctx, std::string host,
                                     std::uint16_t port, io_handler h, const tls_options& opt) {
        const std::int64_t us =
            std::chrono::duration_cast<std::chrono::microseconds>(opt.handshake_timeout).count();
        return [s = std::move(s), ctx = std::move(ctx), host = std::move(host), h = std::move(h),
                us, port](std::error_code ec, std::size_t) mutable {
            if (!ec && s->closed()) ec = make_error_code(error::operation_aborted);
            if (ec) return h(ec, 0);
            std::unique_ptr<tls::engine> e = ctx->make_client_for(host, port);
            s->start_tls(std::move(e), std::move(ctx), std::move(h), us);
        };
    }
};

template <class H>
void tls_connect(tcp_stream& s, std::string host, std::uint16_t port,
                 std::shared_ptr<tls::context> ctx, H&& handler, const tls_options& opt) {
    io_handler h = detail::ec_only(std::forward<H>(handler));
    detail::stream_impl* impl = s.impl();
    if (!impl || !impl->loop_ || impl->closed() || impl->fd_ != invalid_socket ||
        (impl->flags_ & (detail::stream_impl::connecting | detail::stream_impl::connected)) || !ctx) {
        std::error_code ec = make_error_code(!ctx || !impl || impl->closed() ? error::not_open
                                             : impl->flags_ & detail::stream_impl::connecting
                                                 ? error::in_progress
                                                 : error::already_open);
        if (impl && impl->loop_) impl->loop_->complete(std::move(h), ec, 0);
        return;
    }
    std::string name = host;
    impl->start_connect(std::move(host), port,
                        tls_stream::then_handshake(s.impl_ref(), std::move(ctx), std::move(name),
                                                   port, std::move(h), opt),
                        opt.connect);
}

// Starts the server side of TLS on an accepted connection (a tcp_listener's, a
// loop_group's): handler(ec, stream) once, after the handshake. On failure the stream is
// closed and handed over anyway, so stream.tls_error() can say why.
template <class H>
void tls_accept(tcp_stream s, std::shared_ptr<tls::context> ctx, H&& handler,
                const tls_options& opt = {}) {
    detail::stream_impl* impl = s.impl();
    if (!impl || !impl->loop_ || impl->closed() || !ctx) {
        if (impl && impl->loop_)
            impl->loop_->defer([h = std::forward<H>(handler)]() mutable {
                h(make_error_code(error::not_open), tls_stream());
            });
        return;
    }
    std::unique_ptr<tls::engine> e = ctx->make_server();
    // The handler holds the stream until the handshake ends, one way or the other (a
    // close completes it too).
    io_handler done = [s = std::move(s), h = std::forward<H>(handler)](std::error_code ec,
                                                                      std::size_t) mutable {
        h(ec, tls_stream(std::move(s)));
    };
    impl->start_tls(std::move(e), std::move(ctx), std::move(done),
                    std::chrono::duration_cast<std::chrono::microseconds>(opt.handshake_timeout).count());
}

// Accepts TCP connections and hands out TLS streams whose handshake is done. A failed
// handshake (garbage, a refused version, the timeout) closes that connection alone and
// is told to on_handshake_error(); the listener goes on.
class tls_listener {
  public:
    using accept_handler = unique_function<void(std::error_code, tls_stream)>;
    using error_handler = unique_function<void(std::error_code, const std::string& why)>;

    tls_listener() noexcept = default;
    explicit tls_listener(loop& l) : tcp_(l), st_(detail::make_ref<state>()) {}
    tls_listener(tls_listener&&) noexcept = default;
    tls_listener& operator=(tls_listener&&) noexcept = default;
    // Handshakes still running end with their connections, unreported.
    ~tls_listener() { close(); }

    std::error_code listen(const endpoint& ep, std::shared_ptr<tls::context> ctx,
                           const tls_options& opt = {}, const listen_options& lo = {}) {
        if (!st_) return make_error_code(error::not_open);
        st_->ctx = std::move(ctx);
        st_->opt = opt;
        return tcp_.listen(ep, lo);
    }
    // handler(ec, stream) per handshaken connection, until close(); an error of the
    // listener itself ends it with one last call.
    void accept_each(accept_handler handler) {
        if (st_) st_->accepted = std::move(handler);
        tcp_.accept_each([st = st_](std::error_code ec, tcp_stream s) mutable {
            if (ec) {
                if (st->accepted) st->accepted(ec, tls_stream());
                return;
            }
            if (!st->ctx) return; // listen() was not given a context
            tls_accept(std::move(s), st->ctx, [st](std::error_code hec, tls_stream t) {
                if (st->closed) return; // the listener went: t closes here
                if (hec) {
                    if (st->on_error) st->on_error(hec, t.tls_error());
                    return;
                }
                if (st->accepted) st->accepted({}, std::move(t));
            }, st->opt);
        });
    }
    void on_handshake_error(error_handler h) {
        if (st_) st_->on_error = std::move(h);
    }
    // Stops accepting; handshakes in progress finish but are no longer handed out.
    void close() {
        if (st_) st_->closed = true;
        tcp_.close();
    }
    endpoint local_endpoint(std::error_code& ec) const { return tcp_.local_endpoint(ec); }
    tcp_listener& tcp() noexcept { return tcp_; }

  private:
    struct state : detail::ref_counted<state> {
        std::shared_ptr<tls::context> ctx;
        tls_options opt;
        accept_handler accepted;
        error_handler on_error;
        bool closed = false;
    };
    tcp_listener tcp_;
    detail::ref<state> st_;
};

} // namespace sluice
