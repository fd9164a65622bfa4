// sluice — UDP sockets. send_to() tries the kernel first; only when its buffer is
// full are datagrams queued (bounded, like stream writes) and sent in order once it
// drains. Receiving: recv_from() into the caller's buffer, or recv_each() with the
// loop's shared buffer (up to 64 datagrams per readiness event). A datagram larger than the buffer
// is truncated (and reported with error::message_size).
#pragma once

#include <sluice/handles/handle.hpp>
#include <sluice/platform/endpoint.hpp>

#include <deque>
#include <string_view>

namespace sluice {

using recv_handler = unique_function<void(std::error_code, std::string_view, const endpoint&)>;

namespace detail {

struct datagram {
    endpoint to;
    bool connected;
    shared_bytes bytes;
    io_handler done;
};

class udp_impl final : public io_object {
  public:
    using io_object::io_object;

    SLUICE_DECL void update_interest();

    SLUICE_DECL void on_ready(unsigned events) override;

    SLUICE_DECL std::error_code send_now(const datagram& d, const void* data, std::size_t size);

    SLUICE_DECL void send(const endpoint* to, const_buffer data, io_handler done);

    SLUICE_DECL void flush();

    // recv_each reads up to this many datagrams per readiness event: one per event
    // starves a game loop that polls once per frame, an unbounded drain lets one busy
    // socket starve every other handle of the loop.
    static constexpr int datagrams_per_event = 64;

    SLUICE_DECL void receive();

    SLUICE_DECL bool cancel_recv();

    SLUICE_DECL void close_with(std::error_code reason) override;

    recv_handler recv_cb_;
    char* recv_buf_ = nullptr;
    std::size_t recv_len_ = 0;
    bool continuous_ = false;
    std::deque<datagram> queue_;
    std::size_t queued_bytes_ = 0;
    std::size_t queue_cap_ = 4 * 1024 * 1024;
};

} // namespace detail

class udp_socket : public detail::basic_handle<detail::udp_impl> {
  public:
    udp_socket() noexcept = default;
    explicit udp_socket(loop& l) : basic_handle(new detail::udp_impl(l)) { l.adopt(impl_.get()); }

    // Opens a socket of the endpoint's family and binds it (port 0: the kernel picks).
    std::error_code bind(const endpoint& ep, bool reuse_address = false, bool reuse_port = false) {
        if (auto ec = open_for(ep.family())) return ec;
        // On Windows SO_REUSEADDR alone already lets several sockets share the port.
        if (reuse_address) platform::set_option(impl_->fd_, SOL_SOCKET, SO_REUSEADDR, 1);
#if defined(SO_REUSEPORT)
        if (reuse_port) platform::set_option(impl_->fd_, SOL_SOCKET, SO_REUSEPORT, 1);
#else
        (void)reuse_port;
#endif
        return platform::bind_socket(impl_->fd_, ep.data(), ep.size());
    }
    // Connected mode: send() goes to `peer`, and only its datagrams are received.
    std::error_code connect(const endpoint& peer) {
        if (auto ec = open_for(peer.family())) return ec;
        return platform::connect_now(impl_->fd_, peer.data(), peer.size());
    }

    void send_to(const endpoint& to, const_buffer data, io_handler handler = nullptr) {
        if (auto ec = open_for(to.family())) return fail(std::move(handler), ec);
        impl_->send(&to, data, std::move(handler));
    }
    void send(const_buffer data, io_handler handler = nullptr) {
        if (auto ec = unusable()) return fail(std::move(handler), ec);
        impl_->send(nullptr, data, std::move(handler));
    }
    void send_to(const endpoint& to, std::string_view data, io_handler handler = nullptr) {
        send_to(to, const_buffer(data), std::move(handler));
    }
    void send(std::string_view data, io_handler handler = nullptr) {
        send(const_buffer(data), std::move(handler));
    }

    // One datagram into buf: handler(ec, data, from).
    void recv_from(mutable_buffer buf, recv_handler handler) {
        start(static_cast<char*>(buf.data), buf.size, std::move(handler), false);
    }
    // Every datagram until recv_stop(), into the loop's shared buffer.
    void recv_each(recv_handler handler) { start(nullptr, 0, std::move(handler), true); }
    // Cancels a pending recv_from (or recv_each): its handler gets operation_aborted
    // from the loop, once. Returns false when none was pending.
    bool cancel_recv() { return !unusable() && impl_->cancel_recv(); }
    // Ends recv_each() silently (its handler is released from the loop, uncalled); a
    // pending recv_from() completes with operation_aborted instead.
    void recv_stop() {
        if (unusable()) return;
        detail::udp_impl& u = *impl_;
        if (u.recv_cb_) {
            if (u.continuous_)
                u.loop_->defer([h = std::move(u.recv_cb_)] {}); // released, uncalled
            else
                u.loop_->defer([h = std::move(u.recv_cb_)]() mutable {
                    h(make_error_code(error::operation_aborted), {}, endpoint{});
                });
        }
        u.recv_buf_ = nullptr;
        u.continuous_ = false;
        u.update_interest();
    }

    endpoint local_endpoint(std::error_code& ec) const {
        return platform::local_endpoint(native_handle(), ec);
    }
    void set_queue_cap(std::size_t bytes) {
        if (impl_) impl_->queue_cap_ = bytes;
    }

  private:
    std::error_code open_for(int family) {
        if (auto ec = unusable()) return ec;
        if (impl_->fd_ != invalid_socket) return {};
        std::error_code ec;
        impl_->fd_ = platform::open_socket(family, SOCK_DGRAM, ec);
        return ec;
    }

    void start(char* buf, std::size_t len, recv_handler h, bool continuous) {
        std::error_code ec = unusable();
        if (!ec && impl_->fd_ == invalid_socket) ec = make_error_code(error::not_open);
        if (!ec && impl_->recv_cb_) ec = make_error_code(error::in_progress);
        if (ec) {
            if (impl_ && impl_->loop_)
                impl_->loop_->defer([h = std::move(h), ec]() mutable { h(ec, {}, endpoint{}); });
            return;
        }
        impl_->recv_cb_ = std::move(h);
        impl_->recv_buf_ = buf;
        impl_->recv_len_ = len;
        impl_->continuous_ = continuous;
        impl_->update_interest();
    }
};

} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/handles/impl/udp.ipp>
#endif
