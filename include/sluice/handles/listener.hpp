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
inline stream_impl* adopt_connected(loop& l, native_socket s) {
    auto* impl = new stream_impl(l);
    impl->fd_ = s;
    impl->flags_ = stream_impl::connected;
    l.adopt(impl);
    return impl;
}

class listener_impl final : public io_object, public timer_node {
  public:
    using io_object::io_object;
    using accept_handler = unique_function<void(std::error_code, stream_impl*)>;

    void on_ready(unsigned) override {
        for (int batch = 0; batch < 64 && (accept_cb_ || handoff_) && !closed(); ++batch) {
            std::error_code ec;
            native_socket s = platform::accept_socket(fd_, nullptr, nullptr, ec);
            if (ec) {
                if (platform::would_block(ec)) return;
                if (platform::out_of_descriptors(ec)) {
                    ++backoffs_;
                    loop_->watch(this, 0);
                    loop_->schedule(this, loop::clock_us() + 100000);
                    return;
                }
                continue; // ECONNABORTED and friends: that client is gone, try the next
            }
            if (handoff_) { // the socket goes to another loop (see loop_group)
                handoff_(s);
                continue;
            }
            stream_impl* impl = adopt_connected(*loop_, s);
            // The handler is moved out while it runs: it may close this listener or
            // start another accept; it is put back only if neither happened.
            accept_handler h = std::move(accept_cb_);
            if (!continuous_) loop_->watch(this, 0);
            h({}, impl);
            if (continuous_ && !accept_cb_ && !closed()) accept_cb_ = std::move(h);
        }
    }

    void on_timer() override {
        if ((accept_cb_ || handoff_) && !closed()) loop_->watch(this, ev_read);
    }

    void close_with(std::error_code reason) override {
        if (closed()) return;
        loop_->unschedule(this);
        handoff_ = nullptr;
        if (accept_cb_) {
            accept_handler h = std::move(accept_cb_);
            loop_->defer([h = std::move(h), reason]() mutable { h(reason, nullptr); });
        }
        loop_->retire(this);
    }

    bool cancel_accept() {
        if (!accept_cb_) return false;
        loop_->unschedule(this);
        loop_->watch(this, 0);
        continuous_ = false;
        loop_->defer([h = std::move(accept_cb_)]() mutable {
            h(make_error_code(error::operation_aborted), nullptr);
        });
        return true;
    }

    std::error_code open(const endpoint& ep, const listen_options& opt, int type) {
        std::error_code ec;
        fd_ = platform::open_socket(ep.family(), type, ec);
        if (ec) return ec;
        if (ep.family() == AF_INET || ep.family() == AF_INET6) {
            if (opt.reuse_address) platform::allow_rebind(fd_);
#if defined(SO_REUSEPORT)
            if (opt.reuse_port)
                if (auto e = platform::set_option(fd_, SOL_SOCKET, SO_REUSEPORT, 1)) return e;
#else
            // Windows has no SO_REUSEPORT (its SO_REUSEADDR does not balance connections).
            if (opt.reuse_port) return std::make_error_code(std::errc::not_supported);
#endif
            if (ep.family() == AF_INET6)
                platform::set_option(fd_, IPPROTO_IPV6, IPV6_V6ONLY, opt.v6_only ? 1 : 0);
        }
        if (auto ec = platform::bind_socket(fd_, ep.data(), ep.size())) return ec;
        return platform::listen_socket(fd_, opt.backlog);
    }

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
