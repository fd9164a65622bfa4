// sluice — awaitable TLS: connect-and-handshake as a client, and accept a handshaken
// connection from a tls_listener, in the style of coro/io.hpp (the awaiter drives the
// handle's own operation; cancellation goes through the handle's own cancel).
//
//     tls_stream s(loop);
//     if (auto ec = co_await connect(s, "example.com", 443, ctx)) ...  // after the handshake
//     auto r = co_await accept(listener);                               // r.value: handshaken
//     auto t = co_await tls_handshake(std::move(tcp), server_ctx);      // accepted elsewhere
//
// Cancelling (with_timeout, a token, when_any) a connect ends the TCP connect, or, once
// connected, the handshake, which cannot be resumed: the stream then fails (closed with a
// reset) and the await returns operation_aborted; so does cancelling tls_handshake. Cancelling
// an accept leaves the handshakes in progress running: their streams are kept for the next
// accept.
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/io.hpp>
#include <sluice/handles/tls.hpp>

#include <memory>
#include <string>

namespace sluice {
namespace detail {

// Holds a pointer to the host, which lives in the calling coroutine's frame (see
// connect_host_op); `ep` is null to connect by name.
class [[nodiscard]] tls_connect_op final : public io_op<tls_connect_op> {
  public:
    tls_connect_op(tls_stream& s, const endpoint* ep, const std::string& host, std::uint16_t port,
                   std::shared_ptr<tls::context> ctx, const tls_options& opt) noexcept
        : s_(&s), ep_(ep), host_(&host), port_(port), ctx_(std::move(ctx)), opt_(opt) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*s_); }
    void initiate(const coro_context&) {
        impl_ = s_->impl_ref();
        if (ep_)
            s_->connect(*ep_, *host_, std::move(ctx_), resumer<tls_connect_op>(this), opt_);
        else
            s_->connect(*host_, port_, std::move(ctx_), resumer<tls_connect_op>(this), opt_);
    }
    void on_complete(std::error_code ec) {
        ec_ = ec;
        finish();
    }
    void on_cancel() override {
        if (stream_impl* i = live(impl_)) cancel_tls_connect(*i);
    }
    std::error_code await_resume() const noexcept { return ec_; }
    sluice::loop* hint_loop() const noexcept { return s_->get_loop(); }

  private:
    tls_stream* s_;
    const endpoint* ep_;
    const std::string* host_;
    std::uint16_t port_;
    std::shared_ptr<tls::context> ctx_;
    tls_options opt_;
    ref<stream_impl> impl_;
};

class [[nodiscard]] tls_accept_op final : public io_op<tls_accept_op> {
  public:
    explicit tls_accept_op(tls_listener& l) noexcept : l_(&l) {}
    std::error_code precheck(const coro_context&) const noexcept {
        if (!l_->state_ref()) return make_error_code(error::not_open);
        return check_handle(l_->tcp());
    }
    void initiate(const coro_context&) {
        st_ = l_->state_ref();
        l_->accept(resumer<tls_accept_op>(this));
    }
    void on_complete(std::error_code ec, tls_stream s) {
        ec_ = ec;
        out_ = std::move(s);
        finish();
    }
    void on_cancel() override {
        if (st_) st_->cancel_one();
    }
    result<tls_stream> await_resume() noexcept { return {ec_, std::move(out_)}; }
    sluice::loop* hint_loop() const noexcept { return l_->get_loop(); }

  private:
    tls_listener* l_;
    tls_stream out_;
    ref<tls_listener_state> st_;
};

// The server side on a stream accepted elsewhere (tls_accept()): the awaiter holds the stream
// until it hands it to tls_accept, then only a counted reference for cancelling.
class [[nodiscard]] tls_handshake_op final : public io_op<tls_handshake_op> {
  public:
    tls_handshake_op(tcp_stream&& s, std::shared_ptr<tls::context> ctx, const tls_options& opt)
        : s_(std::move(s)), ctx_(std::move(ctx)), opt_(opt) {}
    std::error_code precheck(const coro_context&) const noexcept {
        if (std::error_code ec = check_handle(s_)) return ec;
        if (!ctx_ || !s_.is_open()) return make_error_code(error::not_open);
        return {};
    }
    void initiate(const coro_context&) {
        impl_ = s_.impl_ref();
        tls_accept(std::move(s_), std::move(ctx_), resumer<tls_handshake_op>(this), opt_);
    }
    void on_complete(std::error_code ec, tls_stream t) {
        ec_ = ec;
        out_ = std::move(t);
        finish();
    }
    // A handshake cannot be resumed: the stream fails, and its handler hears why.
    void on_cancel() override {
        stream_impl* i = live(impl_);
        if (i && i->handshaking()) i->fail(make_error_code(error::operation_aborted));
    }
    // On failure the stream comes back closed: value.tls_error() says why.
    result<tls_stream> await_resume() noexcept { return {ec_, std::move(out_)}; }
    sluice::loop* hint_loop() const noexcept { return impl_ ? impl_->loop_ : s_.get_loop(); }

  private:
    tcp_stream s_;
    std::shared_ptr<tls::context> ctx_;
    tls_options opt_;
    tls_stream out_;
    ref<stream_impl> impl_;
};

} // namespace detail

// Connects to host:port, then handshakes as a client of ctx (SNI and, when ctx verifies,
// the certificate checked against `host`): an empty error_code once the handshake is done;
// tls::error::verify_failed when the certificate does not check out. A template only so
// that it is compiled where used (see the note in coro/io.hpp).
template <class Unused = void>
[[nodiscard]] task<std::error_code> connect(tls_stream& s, std::string host, std::uint16_t port,
                                            std::shared_ptr<tls::context> ctx,
                                            tls_options opt = {}) {
    co_return co_await detail::tls_connect_op(s, nullptr, host, port, std::move(ctx), opt);
}
// To an address; the certificate is checked against `host` (a name, or the address).
template <class Unused = void>
[[nodiscard]] task<std::error_code> connect(tls_stream& s, endpoint ep, std::string host,
                                            std::shared_ptr<tls::context> ctx,
                                            tls_options opt = {}) {
    co_return co_await detail::tls_connect_op(s, &ep, host, 0, std::move(ctx), opt);
}

// The server side of TLS on a connection accepted elsewhere (a tcp_listener's, a
// loop_group's): {ec, stream} once the handshake is done; on failure the stream is closed.
[[nodiscard]] inline detail::tls_handshake_op tls_handshake(tcp_stream s,
                                                            std::shared_ptr<tls::context> ctx,
                                                            const tls_options& opt = {}) {
    return detail::tls_handshake_op(std::move(s), std::move(ctx), opt);
}

// One connection whose handshake is done: {ec, stream}.
[[nodiscard]] inline detail::tls_accept_op accept(tls_listener& l) noexcept {
    return detail::tls_accept_op(l);
}

} // namespace sluice

#endif // SLUICE_HAS_COROUTINES
