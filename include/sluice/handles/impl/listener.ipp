// sluice — out-of-line bodies of sluice/handles/listener.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/listener.hpp>

namespace sluice {
namespace detail {

SLUICE_DECL stream_impl* adopt_connected(loop& l, native_socket s) {
    auto* impl = new stream_impl(l);
    impl->fd_ = s;
    impl->flags_ = stream_impl::connected;
    l.adopt(impl);
    return impl;
}

SLUICE_DECL void listener_impl::on_ready(unsigned) {
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

SLUICE_DECL void listener_impl::close_with(std::error_code reason) {
    if (closed()) return;
    loop_->unschedule(this);
    handoff_ = nullptr;
    if (accept_cb_) {
        accept_handler h = std::move(accept_cb_);
        loop_->defer([h = std::move(h), reason]() mutable { h(reason, nullptr); });
    }
    loop_->retire(this);
}

SLUICE_DECL bool listener_impl::cancel_accept() {
    if (!accept_cb_) return false;
    loop_->unschedule(this);
    loop_->watch(this, 0);
    continuous_ = false;
    loop_->defer([h = std::move(accept_cb_)]() mutable {
        h(make_error_code(error::operation_aborted), nullptr);
    });
    return true;
}

SLUICE_DECL std::error_code listener_impl::open(const endpoint& ep, const listen_options& opt,
                                                int type) {
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
} // namespace detail
} // namespace sluice
