// sluice — out-of-line bodies of sluice/group/loop_group.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/group/loop_group.hpp>

namespace sluice {

SLUICE_DECL bool parse_spread(std::string_view name, spread& out) noexcept {
    if (name == "reuseport") return out = spread::reuse_port, true;
    if (name == "acceptor") return out = spread::acceptor, true;
    return false;
}

SLUICE_DECL bool parse_policy(std::string_view name, handoff_policy& out) noexcept {
    if (name == "rr") return out = handoff_policy::round_robin, true;
    if (name == "least") return out = handoff_policy::least_connections, true;
    return false;
}

SLUICE_DECL loop_group::loop_group(std::size_t loops, backend b)
    : in_flight_(loops ? loops : 1), handed_(loops ? loops : 1) {
    if (loops == 0) loops = 1;
    for (std::size_t i = 0; i < loops; ++i) {
        loops_.push_back(std::make_unique<loop>(b));
        if (!status_) status_ = loops_.back()->status();
    }
}

SLUICE_DECL std::size_t loop_group::index_of(const loop* l) const noexcept {
    for (std::size_t i = 0; i < loops_.size(); ++i)
        if (loops_[i].get() == l) return i;
    return loops_.size();
}

SLUICE_DECL std::error_code loop_group::listen(const endpoint& ep, connection_handler on_connection,
                                               const group_listen_options& opt) {
    if (status_) return status_;
    if (!listeners_.empty()) return make_error_code(error::already_open);
    handler_ = std::move(on_connection);
    options_ = opt;
    if (opt.spread == spread::reuse_port) {
        listen_options lo = opt.listen;
        lo.reuse_port = loops_.size() > 1;
        endpoint bound = ep;
        for (std::size_t i = 0; i < loops_.size(); ++i) {
            listeners_.emplace_back(*loops_[i]);
            if (auto ec = listeners_.back().listen(bound, lo)) return fail(ec);
            // Port 0: every later socket joins the port the kernel chose first.
            if (bound.port() == 0) {
                std::error_code ec;
                bound = listeners_.back().local_endpoint(ec);
                if (ec) return fail(ec);
            }
            listeners_.back().accept_each([this, i](std::error_code ec, tcp_stream s) {
                if (ec) return;
                ++handed_[i]; // loop i's thread only
                handler_(std::move(s));
            });
        }
        return {};
    }
    listeners_.emplace_back(*loops_[0]);
    if (auto ec = listeners_.back().listen(ep, opt.listen)) return fail(ec);
    listeners_.back().impl()->handoff_ = [this](native_socket s) { hand_off(s); };
    loops_[0]->watch(listeners_.back().impl(), detail::ev_read);
    return {};
}

SLUICE_DECL endpoint loop_group::local_endpoint(std::error_code& ec) const {
    if (listeners_.empty()) {
        ec = make_error_code(error::not_open);
        return {};
    }
    return listeners_.front().local_endpoint(ec);
}

SLUICE_DECL void loop_group::run(std::chrono::milliseconds grace) {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < loops_.size(); ++i)
        threads.emplace_back([this, i, grace] { run_one(i, grace); });
    run_one(0, grace);
    for (auto& t : threads) t.join();
}

SLUICE_DECL std::error_code loop_group::fail(std::error_code ec) {
    listeners_.clear();
    return ec;
}

SLUICE_DECL void loop_group::run_one(std::size_t i, std::chrono::milliseconds grace) {
    loop& l = *loops_[i];
    {
        // A worker with no connection yet has nothing registered; keep it running
        // so that connections handed to it later are served.
        auto guard = l.keep_alive();
        l.run();
    }
    l.shutdown(grace);
}

SLUICE_DECL std::size_t loop_group::choose() {
    const std::size_t n = loops_.size();
    const std::size_t first = (options_.acceptor_serves || n == 1) ? 0 : 1;
    const std::size_t count = n - first;
    if (options_.policy == handoff_policy::round_robin) return first + (next_++ % count);
    // Least connections; ties go round robin so an idle group still spreads.
    std::size_t best = first + (next_++ % count);
    std::size_t best_load = connections(best);
    for (std::size_t k = 0; k < count; ++k) {
        std::size_t i = first + k;
        std::size_t c = connections(i);
        if (c < best_load) best = i, best_load = c;
    }
    return best;
}

SLUICE_DECL void loop_group::hand_off(native_socket s) {
    std::size_t i = choose();
    ++handed_[i];
    if (i == 0) {
        handler_(tcp_stream(detail::adopt_connected(*loops_[0], s)));
        return;
    }
    in_flight_[i].fetch_add(1, std::memory_order_relaxed);
    // The socket is closed if the worker is gone before it runs this.
    struct owned {
        native_socket fd;
        explicit owned(native_socket f) : fd(f) {}
        owned(owned&& o) noexcept : fd(std::exchange(o.fd, invalid_socket)) {}
        ~owned() { platform::close_socket(fd); }
    };
    loop* worker = loops_[i].get();
    worker->post([this, i, worker, sock = owned(s)]() mutable {
        tcp_stream stream(detail::adopt_connected(*worker, std::exchange(sock.fd, invalid_socket)));
        in_flight_[i].fetch_sub(1, std::memory_order_relaxed);
        handler_(std::move(stream));
    });
}
} // namespace sluice
