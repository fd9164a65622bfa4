// sluice — accepting connections (TCP and Unix listeners share this).
//
// Accept runs in batches (up to 64 per readiness) to keep up with connection storms.
// When the process runs out of descriptors (EMFILE/ENFILE; WSAEMFILE/WSAENOBUFS on
// Windows) the listener stops watching for 100 ms instead of spinning on a readiness
// it cannot act on, keeps its socket, and tries again — the backlog holds the waiting
// clients meanwhile.
#pragma once

#include <sluice/handles/stream.hpp>

namespace sluice {

struct listen_options {
    int backlog = 511;
    bool reuse_address = true; // rebind right after a restart (TIME_WAIT)
    bool reuse_port = false;   // several sockets (loops, processes) share the port
    bool v6_only = false;
};

namespace detail {

// A stream on `l` for a connected, non-blocking socket.
SLUICE_DECL stream_impl* adopt_connected(loop& l, native_socket s);

class listener_impl final : public io_object, public timer_node {
  public:
    using io_object::io_object;
    using accept_handler = unique_function<void(std::error_code, stream_impl*)>;

    SLUICE_DECL void on_ready(unsigned) override;

    void on_timer() override {
        if ((accept_cb_ || handoff_) && !closed()) loop_->watch(this, ev_read);
    }

    SLUICE_DECL void close_with(std::error_code reason) override;

    SLUICE_DECL bool cancel_accept();

    SLUICE_DECL std::error_code open(const endpoint& ep, const listen_options& opt, int type);

    // Set instead of accept_cb_: every accepted socket is passed on raw, without a
    // stream on this loop (the caller owns it from then on).
    unique_function<void(native_socket)> handoff_;
    accept_handler accept_cb_;
    bool continuous_ = false;
    std::size_t backoffs_ = 0;
};

} // namespace detail

// Listener for a stream type S (tcp_stream or unix_stream).
template <class S>
class basic_listener : public detail::basic_handle<detail::listener_impl> {
  public:
    using accept_handler = unique_function<void(std::error_code, S)>;

    basic_listener() noexcept = default;
    explicit basic_listener(loop& l) : basic_handle(new detail::listener_impl(l)) {
        l.adopt(impl_.get());
    }

    // Accepts one connection: handler(ec, stream).
    void accept(accept_handler handler) { start(std::move(handler), false); }
    // Accepts every connection until close(): handler(ec, stream) per connection.
    void accept_each(accept_handler handler) { start(std::move(handler), true); }
    // Cancels a pending accept (or accept_each): its handler gets operation_aborted
    // from the loop, once. Returns false when none was pending.
    bool cancel_accept() { return !unusable() && impl_->cancel_accept(); }

    endpoint local_endpoint(std::error_code& ec) const {
        return platform::local_endpoint(native_handle(), ec);
    }
    // Times accepting paused because the process was out of descriptors.
    std::size_t descriptor_backoffs() const noexcept { return impl_ ? impl_->backoffs_ : 0; }

  protected:
    std::error_code open(const endpoint& ep, const listen_options& opt) {
        if (auto ec = unusable()) return ec;
        if (impl_->fd_ != invalid_socket) return make_error_code(error::already_open);
        if (auto ec = impl_->open(ep, opt, SOCK_STREAM)) {
            platform::close_socket(impl_->fd_);
            impl_->fd_ = invalid_socket;
            return ec;
        }
        return {};
    }

  private:
    void start(accept_handler handler, bool continuous) {
        auto deliver = [](accept_handler& h, std::error_code ec) { h(ec, S()); };
        if (auto ec = unusable()) {
            if (impl_ && impl_->loop_)
                impl_->loop_->defer(
                    [h = std::move(handler), ec, deliver]() mutable { deliver(h, ec); });
            return;
        }
        if (impl_->accept_cb_ || impl_->fd_ == invalid_socket) {
            std::error_code ec =
                make_error_code(impl_->accept_cb_ ? error::in_progress : error::not_open);
            impl_->loop_->defer(
                [h = std::move(handler), ec, deliver]() mutable { deliver(h, ec); });
            return;
        }
        impl_->continuous_ = continuous;
        impl_->accept_cb_ = [h = std::move(handler)](std::error_code ec,
                                                     detail::stream_impl* s) mutable {
            h(ec, S(s));
        };
        impl_->loop_->watch(impl_.get(), detail::ev_read);
    }
};

} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/handles/impl/listener.ipp>
#endif
