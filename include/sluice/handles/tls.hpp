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
#include <deque>
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

namespace detail {
// Cancels a TLS connect in progress: the TCP connect (operation_aborted; the stream may
// connect again), or, once connected, the handshake, which cannot be resumed: the stream
// fails with operation_aborted. False when neither runs (a completion already queued
// still runs).
inline bool cancel_tls_connect(stream_impl& i) {
    const std::error_code aborted = make_error_code(error::operation_aborted);
    if (i.cancel_connect(aborted)) return true;
    // Connected, the handshake not started yet (the connect's completion is queued) or
    // running: failing the stream makes its handler hear operation_aborted.
    const bool tls_started = i.ext_ && i.ext_->tls;
    if (i.closed() || !(i.flags_ & stream_impl::connected) || (tls_started && !i.handshaking()))
        return false;
    i.fail(aborted);
    return true;
}
} // namespace detail

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

    // Cancels connect(): the TCP connect (the stream may connect again), or the handshake
    // (the stream fails). The handler hears operation_aborted, once. False when neither
    // runs.
    bool cancel_connect() { return !unusable() && detail::cancel_tls_connect(*impl_); }

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

namespace detail {
// A tls_listener's state, shared with its handshakes (which may outlive the handle).
struct tls_listener_state : ref_counted<tls_listener_state> {
    std::shared_ptr<tls::context> ctx;
    tls_options opt;
    unique_function<void(std::error_code, tls_stream)> each; // accept_each's handler
    unique_function<void(std::error_code, const std::string&)> on_error;
    unique_function<void(std::error_code, tls_stream)> one; // a waiting accept()
    std::deque<tls_stream> ready; // handshaken while no accept() waited
    loop* lp = nullptr;
    // The TCP listener, valid while !closed (the tls_listener's tcp_listener holds it).
    listener_impl* tcp = nullptr;
    unsigned run = 0; // numbers accept()'s TCP accepting, so a paused run's abort is ignored
    bool accepting = false; // for accept(): TCP connections are being accepted
    bool closed = false;

    // Beyond this many handshaken streams nobody took, accept() pauses the TCP accepting
    // and the kernel's backlog holds the next clients.
    static constexpr std::size_t max_ready = 64;

    bool cancel_one() {
        if (!one) return false;
        lp->defer([h = std::exchange(one, nullptr)]() mutable {
            h(make_error_code(error::operation_aborted), tls_stream());
        });
        return true;
    }
    void handshaken(tls_stream t) {
        if (each) return each({}, std::move(t));
        if (one) {
            auto h = std::exchange(one, nullptr);
            return h({}, std::move(t));
        }
        ready.push_back(std::move(t));
        if (ready.size() >= max_ready && accepting && tcp && !tcp->closed()) {
            accepting = false;
            ++run;
            tcp->cancel_accept();
        }
    }
};
} // namespace detail

// Accepts TCP connections and hands out TLS streams whose handshake is done. A failed
// handshake (garbage, a refused version, the timeout) closes that connection alone and
// is told to on_handshake_error(); the listener goes on. Handshakes run concurrently, so
// a client that stalls its handshake delays nobody else.
class tls_listener {
  public:
    using accept_handler = unique_function<void(std::error_code, tls_stream)>;
    using error_handler = unique_function<void(std::error_code, const std::string& why)>;

    tls_listener() noexcept = default;
    explicit tls_listener(loop& l) : tcp_(l), st_(detail::make_ref<state>()) { st_->lp = &l; }
    tls_listener(tls_listener&&) noexcept = default;
    tls_listener& operator=(tls_listener&&) noexcept = default;
    // Handshakes still running end with their connections, unreported.
    ~tls_listener() { close(); }

    std::error_code listen(const endpoint& ep, std::shared_ptr<tls::context> ctx,
                           const tls_options& opt = {}, const listen_options& lo = {}) {
        if (!st_) return make_error_code(error::not_open);
        st_->ctx = std::move(ctx);
        st_->opt = opt;
        std::error_code ec = tcp_.listen(ep, lo);
        if (!ec) st_->tcp = tcp_.impl();
        return ec;
    }
    // handler(ec, stream) per handshaken connection, until close(); an error of the
    // listener itself ends it with one last call. Not together with accept().
    void accept_each(accept_handler handler) {
        if (st_ && (st_->one || st_->accepting || !st_->ready.empty()))
            return refuse(std::move(handler), error::in_progress);
        if (st_) st_->each = std::move(handler);
        tcp_.accept_each([st = st_](std::error_code ec, tcp_stream s) mutable {
            if (ec) {
                if (st->each) st->each(ec, tls_stream());
                return;
            }
            handshake(st, std::move(s));
        });
    }
    // One handshaken connection: handler(ec, stream) once, from the loop. Between calls
    // the listener goes on accepting and handshaking (up to state::max_ready streams are
    // kept for the next calls). close() or cancel_accept() completes a waiting accept
    // with operation_aborted. Not together with accept_each().
    void accept(accept_handler handler) {
        if (!st_ || st_->closed || !st_->tcp || st_->tcp->closed())
            return refuse(std::move(handler), error::not_open);
        if (st_->one || st_->each) return refuse(std::move(handler), error::in_progress);
        if (!st_->ready.empty()) {
            tls_stream t = std::move(st_->ready.front());
            st_->ready.pop_front();
            st_->lp->defer([h = std::move(handler), t = std::move(t)]() mutable {
                h({}, std::move(t));
            });
        } else {
            st_->one = std::move(handler);
        }
        if (st_->accepting) return;
        st_->accepting = true;
        tcp_.accept_each([st = st_, run = ++st_->run](std::error_code ec, tcp_stream s) mutable {
            if (ec) {
                if (run != st->run || st->closed) return; // paused, or closed
                st->accepting = false;
                // The listener itself failed: a waiting accept hears it.
                if (st->one) std::exchange(st->one, nullptr)(ec, tls_stream());
                return;
            }
            handshake(st, std::move(s));
        });
    }
    // Completes a waiting accept() with operation_aborted (from the loop, once); the
    // handshakes in progress go on, kept for the next accept(). False when none waited.
    bool cancel_accept() { return st_ && st_->cancel_one(); }
    void on_handshake_error(error_handler h) {
        if (st_) st_->on_error = std::move(h);
    }
    // Stops accepting; handshakes in progress finish but are no longer handed out, and
    // streams kept for accept() are closed.
    void close() {
        if (st_ && !st_->closed) {
            st_->closed = true;
            st_->ready.clear();
            st_->cancel_one();
        }
        tcp_.close();
    }
    endpoint local_endpoint(std::error_code& ec) const { return tcp_.local_endpoint(ec); }
    tcp_listener& tcp() noexcept { return tcp_; }
    loop* get_loop() const noexcept { return st_ ? st_->lp : nullptr; }
    // The coroutine layer's hold on the state (cancelling after the handle moved or went).
    const detail::ref<detail::tls_listener_state>& state_ref() const noexcept { return st_; }

  private:
    using state = detail::tls_listener_state;
    static void handshake(const detail::ref<state>& st, tcp_stream s) {
        if (!st->ctx) return; // listen() was not given a context
        tls_accept(std::move(s), st->ctx, [st](std::error_code hec, tls_stream t) {
            if (st->closed) return; // the listener went: t closes here
            if (hec) {
                if (st->on_error) st->on_error(hec, t.tls_error());
                return;
            }
            st->handshaken(std::move(t));
        }, st->opt);
    }
    void refuse(accept_handler&& h, error e) {
        if (st_ && st_->lp)
            st_->lp->defer([h = std::move(h), e]() mutable { h(make_error_code(e), tls_stream()); });
    }
    tcp_listener tcp_;
    detail::ref<state> st_;
};

} // namespace sluice
