// sluice — out-of-line bodies of sluice/handles/udp.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/udp.hpp>

namespace sluice {
namespace detail {

SLUICE_DECL void udp_impl::update_interest() {
    unsigned mask = (recv_cb_ ? ev_read : 0u) | (queue_.empty() ? 0u : ev_write);
    loop_->watch(this, mask);
}

SLUICE_DECL void udp_impl::on_ready(unsigned events) {
    if (events & ev_write) flush();
    if (!closed() && (events & ev_read) && recv_cb_) receive();
}

SLUICE_DECL std::error_code udp_impl::send_now(const datagram& d, const void* data,
                                               std::size_t size) {
    return platform::send_datagram(fd_, data, size, d.connected ? nullptr : d.to.data(),
                                   d.to.size());
}

SLUICE_DECL void udp_impl::send(const endpoint* to, const_buffer data, io_handler done) {
    datagram d{to ? *to : endpoint{}, to == nullptr, {}, nullptr};
    if (queue_.empty()) {
        std::error_code ec = send_now(d, data.data, data.size);
        if (!ec || !platform::would_block(ec))
            return loop_->complete(std::move(done), ec, ec ? 0 : data.size);
    }
    if (queued_bytes_ + data.size > queue_cap_)
        return loop_->complete(std::move(done), make_error_code(error::write_queue_full), 0);
    d.bytes = shared_bytes(data);
    d.done = std::move(done);
    queued_bytes_ += data.size;
    queue_.push_back(std::move(d));
    update_interest();
}

SLUICE_DECL void udp_impl::flush() {
    while (!queue_.empty()) {
        datagram& d = queue_.front();
        std::error_code ec = send_now(d, d.bytes.data(), d.bytes.size());
        if (ec && platform::would_block(ec)) break;
        queued_bytes_ -= d.bytes.size();
        loop_->complete(std::move(d.done), ec, ec ? 0 : d.bytes.size());
        queue_.pop_front();
    }
    update_interest();
}

SLUICE_DECL void udp_impl::receive() {
    for (int i = 0; i < datagrams_per_event && recv_cb_; ++i) {
        char* buf = recv_buf_ ? recv_buf_ : loop_->shared_buffer();
        std::size_t cap = recv_buf_ ? recv_len_ : loop::shared_buffer_size;
        endpoint from;
        socklen_t from_len = endpoint::capacity();
        std::error_code ec;
        std::size_t n = platform::recv_datagram(fd_, buf, cap, from.data(), &from_len, ec);
        if (ec && platform::would_block(ec)) break;
        from.resize(from_len);
        std::string_view data(buf, n);
        recv_handler h = std::move(recv_cb_);
        const bool continuous = continuous_;
        if (!continuous) recv_buf_ = nullptr;
        h(ec, data, from);
        if (closed()) return;
        // The handler may have called recv_stop() (continuous_ cleared) or started
        // a new receive (recv_cb_ set): either way this burst is over.
        if (!continuous || !continuous_ || recv_cb_) break;
        recv_cb_ = std::move(h);
        if (ec) break; // e.g. a refused port on a connected socket: report it once
    }
    if (!closed()) update_interest();
}

SLUICE_DECL bool udp_impl::cancel_recv() {
    if (!recv_cb_) return false;
    recv_buf_ = nullptr;
    continuous_ = false;
    loop_->defer([h = std::move(recv_cb_)]() mutable {
        h(make_error_code(error::operation_aborted), {}, endpoint{});
    });
    update_interest();
    return true;
}

SLUICE_DECL void udp_impl::close_with(std::error_code reason) {
    if (closed()) return;
    if (recv_cb_) {
        loop_->defer([h = std::move(recv_cb_), reason]() mutable { h(reason, {}, endpoint{}); });
    }
    for (auto& d : queue_) loop_->complete(std::move(d.done), reason, 0);
    queue_.clear();
    queued_bytes_ = 0;
    loop_->retire(this);
}
} // namespace detail
} // namespace sluice
