// The balancer's shared part: picking a backend, health checks, drain, statistics.
#include "balancer.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

namespace balancer_app {

std::uint32_t address_hash(const sluice::endpoint& ep) {
    const unsigned char* p = nullptr;
    std::size_t n = 0;
    if (ep.family() == AF_INET) {
        p = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in*>(ep.data())->sin_addr);
        n = 4;
    } else if (ep.family() == AF_INET6) {
        p = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in6*>(ep.data())->sin6_addr);
        n = 16;
    }
    std::uint32_t h = 2166136261u;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
    return h;
}

std::size_t balancer::pick(std::uint32_t key, const std::vector<bool>& tried) {
    const std::size_t n = backends.size();
    auto eligible = [&](std::size_t i) { return backends[i].up && !tried[i]; };
    std::size_t best = none;
    switch (opt.pick_policy) {
    case policy::rr:
        for (std::size_t k = 0; k < n && best == none; ++k)
            if (eligible((next_ + k) % n)) best = (next_ + k) % n;
        break;
    case policy::wrr: {
        long long total = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (!eligible(i)) continue;
            backends[i].current += backends[i].weight;
            total += backends[i].weight;
            if (best == none || backends[i].current > backends[best].current) best = i;
        }
        if (best != none) backends[best].current -= total;
        return best;
    }
    case policy::least: // ties go round robin, so equal loads still rotate
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t i = (next_ + k) % n;
            if (eligible(i) && (best == none || backends[i].active < backends[best].active))
                best = i;
        }
        break;
    case policy::iphash:
        for (std::size_t k = 0; k < n && best == none; ++k)
            if (eligible((key + k) % n)) best = (key + k) % n;
        return best;
    }
    if (best != none) next_ = (best + 1) % n;
    return best;
}

void balancer::mark_down(std::size_t i, const std::string& why) {
    if (!backends[i].up || stopped) return;
    backends[i].up = false;
    pool.drop(i); // its parked connections most likely go nowhere now
    std::fprintf(stderr, "balancer: backend %s down (%s)\n", backends[i].name.c_str(),
                 why.c_str());
}

void balancer::mark_up(std::size_t i) {
    if (backends[i].up || stopped) return;
    backends[i].up = true;
    backends[i].current = 0;
    std::fprintf(stderr, "balancer: backend %s up\n", backends[i].name.c_str());
}

std::error_code balancer::start() {
    if (auto ec = listener.listen(opt.listen)) return ec;
    listener.accept_each([this](std::error_code ec, sluice::tcp_stream s) {
        if (ec || draining) return;
        if (tls) {
            // The connection counts (for the drain) once its handshake is done; a failed
            // one (plain HTTP, a scanner, a stall past the timeout) just closes.
            sluice::tls_accept(std::move(s), tls, [this](std::error_code hec, sluice::tls_stream t) {
                if (!hec && !draining) start_http_conn(*this, std::move(t));
            });
            return;
        }
        if (opt.run_mode == mode::tcp)
            start_tcp_session(*this, std::move(s));
        else
            start_http_conn(*this, std::move(s));
    });
    health_timer.start(milliseconds(0), milliseconds(opt.health_interval_ms),
                       [this](std::error_code ec) {
                           if (!ec) check_all();
                       });
    return {};
}

void balancer::check_all() {
    // A check may take up to its timeout; a slow one is not started twice.
    const milliseconds timeout(
        std::min<long long>(std::max<long long>(opt.health_interval_ms, 1000), 5000));
    for (std::size_t i = 0; i < backends.size(); ++i) {
        if (backends[i].checking) continue;
        backends[i].checking = true;
        if (opt.run_mode == mode::http) {
            http::request_options ro;
            ro.timeout = timeout;
            ro.max_response = 64 * 1024;
            http::fetch(loop, "http://" + backends[i].address.to_string() + "/", std::move(ro),
                        [this, i](std::error_code ec, http::client_response res) {
                            if (!ec && res.status >= 500)
                                return check_done(
                                    i, false, "health check: status " + std::to_string(res.status));
                            check_done(i, !ec, "health check: " + ec.message());
                        });
            continue;
        }
        struct probe {
            explicit probe(sluice::loop& l) : stream(l), timer(l) {}
            sluice::tcp_stream stream;
            sluice::timer timer;
        };
        auto p = std::make_shared<probe>(loop);
        p->timer.start(timeout, [p](std::error_code ec) {
            if (!ec) p->stream.cancel_connect();
        });
        p->stream.connect(backends[i].address, [this, p, i](std::error_code ec) {
            p->timer.cancel();
            discard(std::move(p->stream));
            check_done(i, !ec,
                       ec == sluice::error::operation_aborted ? "health check timed out"
                                                              : "health check: " + ec.message());
        });
    }
}

void balancer::begin_drain() {
    draining = true;
    listener.close();
    if (redirect) redirect->stop(milliseconds(opt.drain_timeout_ms));
    health_timer.cancel();
    std::fprintf(stderr, "balancer: draining %zu connection(s)\n", open_);
    if (open_ == 0) return finish();
    drain_timer.start(milliseconds(opt.drain_timeout_ms), [this](std::error_code ec) {
        if (ec) return;
        std::fprintf(stderr, "balancer: drain timeout, closing %zu connection(s)\n", open_);
        finish();
    });
    pool.drop_all();
    drain_http_conns(*this);
}

void balancer::finish() {
    if (stopped) return;
    stopped = true;
    drain_timer.cancel();
    loop.stop();
}

void balancer::print_stats() const {
    const bool tcp = opt.run_mode == mode::tcp;
    for (const backend& b : backends) {
        // http mode: how many upstream connections carried those requests.
        char reuse[80] = "";
        if (!tcp)
            std::snprintf(reuse, sizeof reuse, " connects=%llu reused=%llu",
                          static_cast<unsigned long long>(b.connects),
                          static_cast<unsigned long long>(b.reuses));
        std::fprintf(stderr, "balancer: stats backend %s weight=%d %s=%llu failed=%llu%s %s\n",
                     b.name.c_str(), b.weight, tcp ? "connections" : "requests",
                     static_cast<unsigned long long>(b.served),
                     static_cast<unsigned long long>(b.failed), reuse, b.up ? "up" : "down");
    }
}

} // namespace balancer_app
