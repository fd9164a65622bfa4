// The idle upstream pools of http mode (see balancer.hpp for when a connection is parked).
#include "balancer.hpp"

#include <algorithm>
#include <utility>

namespace balancer_app {

bool upstream_pool::take(std::size_t b, sluice::tcp_stream& out) {
    std::deque<parked>& q = idle_[b];
    while (!q.empty()) {
        parked p = std::move(q.back());
        q.pop_back();
        if (!p.stream.is_open()) continue; // failed meanwhile, its callback not run yet
        p.stream.read_stop(); // the taker reads it from now on
        out = std::move(p.stream);
        return true;
    }
    return false;
}

void upstream_pool::put(std::size_t b, sluice::tcp_stream s) {
    if (cap_ == 0) return s.close();
    std::deque<parked>& q = idle_[b];
    if (q.size() >= cap_) {
        sluice::tcp_stream oldest = std::move(q.front().stream);
        q.pop_front();
        oldest.close();
    }
    const std::uint64_t id = ++next_id_;
    // Unused for the idle timeout: the stream fails with timed_out, and the read below
    // hears of it. No request is outstanding, so any byte or EOF from the backend means
    // the connection cannot carry the next one (a close, or a protocol error).
    s.set_timeouts(idle_timeout_, milliseconds(0), milliseconds(0));
    s.on_drain({});
    s.read_start([this, b, id](std::error_code, std::string_view) { remove(b, id); });
    q.push_back(parked{std::move(s), id});
}

// Called from the parked stream's own read callback: dropping the handle there is fine.
void upstream_pool::remove(std::size_t b, std::uint64_t id) {
    std::deque<parked>& q = idle_[b];
    auto it = std::find_if(q.begin(), q.end(), [id](const parked& p) { return p.id == id; });
    if (it == q.end()) return; // taken or dropped already
    sluice::tcp_stream s = std::move(it->stream);
    q.erase(it);
    s.close();
}

void upstream_pool::drop(std::size_t b) {
    // Moved out first: closing may report to remove(), which must not see a half-walked
    // queue.
    std::deque<parked> q;
    q.swap(idle_[b]);
    for (parked& p : q) p.stream.close();
}

void upstream_pool::drop_all() {
    for (std::size_t b = 0; b < idle_.size(); ++b) drop(b);
}

} // namespace balancer_app
