// sluice — out-of-line bodies of sluice/http/server.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/server.hpp>

namespace sluice {
namespace http {

SLUICE_DECL server& server::operator=(server&& o) noexcept {
    if (this != &o) {
        destroy();
        core_ = std::move(o.core_);
    }
    return *this;
}

SLUICE_DECL std::error_code server::listen(const endpoint& ep, const listen_options& opt) {
    if (auto ec = core_->listener_.listen(ep, opt)) return ec;
    // The listener belongs to the core; its handler's reference ends with the
    // subscription (close() ends it).
    core_->listener_.accept_each([c = core_](std::error_code ec, tcp_stream st) {
        if (ec) return; // the listener closed
        c->accept(std::move(st));
    });
    return {};
}

SLUICE_DECL void server::serve(tcp_stream st) {
    if (!core_ || !core_->loop_ || st.get_loop() != core_->loop_)
        return; // wrong loop: closed by st's destructor
    core_->accept(std::move(st));
}

SLUICE_DECL void server::stop_within(std::chrono::microseconds grace) {
    if (!core_ || !core_->loop_) return;
    detail::server_core& c = *core_;
    c.stopping_ = true;
    c.listener_.close();
    // Counted: a callback run by one connection's stop may end others.
    std::vector<detail::ref<detail::server_session>> all;
    for (detail::server_session* s = c.sessions_; s; s = s->next_) all.emplace_back(s);
    for (auto& s : all) s->begin_stop();
    if (c.sessions_ && c.loop_) {
        c.grace_timer_ = sluice::timer(*c.loop_);
        c.grace_timer_.start(grace, [core = core_](std::error_code ec) {
            if (!ec) core->close_all(true);
        });
    }
}

SLUICE_DECL void server::close() {
    if (!core_) return;
    detail::ref<detail::server_core> c = core_;
    c->stopping_ = true;
    c->listener_.close();
    c->grace_timer_.close();
    c->close_all(true);
}

SLUICE_DECL void server::destroy() noexcept {
    if (!core_) return;
    detail::ref<detail::server_core> c = std::move(core_);
    c->gone_ = true;
    c->stopping_ = true;
    c->listener_.close();
    c->grace_timer_.close();
    c->close_all(false);
    // Not running now: a running handler is held outside the core for its call.
    c->handler_ = nullptr;
    c->stream_handler_ = nullptr;
    c->bodiless_handler_ = nullptr;
}
} // namespace http
} // namespace sluice
