// sluice — a group of loops, one per thread, serving one listening port.
//
// Two ways to spread connections over the loops:
//   spread::reuse_port  every loop has its own listening socket on the port
//                       (SO_REUSEPORT): the kernel picks a loop per connection by a
//                       hash of the addresses. No cross-thread traffic at all, but
//                       the kernel neither knows nor cares how busy each loop is.
//   spread::acceptor    loop 0 accepts (Netty's "boss") and hands each socket to a
//                       worker loop chosen by a policy: round robin, or the loop
//                       with the fewest open streams. One post() per connection.
// Windows has no SO_REUSEPORT: there, listen() with spread::reuse_port and more than
// one loop fails with std::errc::not_supported; use spread::acceptor.
// Each connection then lives on one loop for its whole life, so its handlers never
// need a lock; the connection handler runs on that loop's thread (on several threads
// at once for different connections: it must be safe to call concurrently).
//
//   sluice::loop_group group(4);
//   group.listen(sluice::endpoint::any_v4(8080), [](sluice::tcp_stream s) { ... });
//   group.at(0).on_signal(SIGINT, [&](int) { group.stop(); });
//   group.run(); // returns once stop() was called and every loop has shut down
#pragma once

#include <sluice/handles/tcp.hpp>

#include <atomic>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice {

enum class spread { reuse_port, acceptor };
enum class handoff_policy { round_robin, least_connections };

// Command-line names: "reuseport" | "acceptor", and "rr" | "least".
inline bool parse_spread(std::string_view name, spread& out) noexcept {
    if (name == "reuseport") return out = spread::reuse_port, true;
    if (name == "acceptor") return out = spread::acceptor, true;
    return false;
}
inline bool parse_policy(std::string_view name, handoff_policy& out) noexcept {
    if (name == "rr") return out = handoff_policy::round_robin, true;
    if (name == "least") return out = handoff_policy::least_connections, true;
    return false;
}

// SO_REUSEPORT where the system has it; elsewhere (Windows) an acceptor, so that the
// defaults work everywhere.
#if defined(SO_REUSEPORT)
inline constexpr spread default_spread = spread::reuse_port;
#else
inline constexpr spread default_spread = spread::acceptor;
#endif

struct group_listen_options {
    sluice::spread spread = default_spread;
    handoff_policy policy = handoff_policy::round_robin; // spread::acceptor only
    // spread::acceptor: whether loop 0 also serves connections, or only accepts.
    bool acceptor_serves = true;
    listen_options listen;
};

class loop_group {
  public:
    using connection_handler = unique_function<void(tcp_stream)>;

    explicit loop_group(std::size_t loops, backend b = backend::automatic)
        : in_flight_(loops ? loops : 1), handed_(loops ? loops : 1) {
        if (loops == 0) loops = 1;
        for (std::size_t i = 0; i < loops; ++i) {
            loops_.push_back(std::make_unique<loop>(b));
            if (!status_) status_ = loops_.back()->status();
        }
    }
    loop_group(const loop_group&) = delete;
    loop_group& operator=(const loop_group&) = delete;

    // Non-empty when a loop could not start its backend.
    std::error_code status() const noexcept { return status_; }
    std::size_t size() const noexcept { return loops_.size(); }
    loop& at(std::size_t i) { return *loops_[i]; }
    // The index of loop `l` in this group, or size() when it is not one of them.
    std::size_t index_of(const loop* l) const noexcept {
        for (std::size_t i = 0; i < loops_.size(); ++i)
            if (loops_[i].get() == l) return i;
        return loops_.size();
    }

    // Starts listening; call before run(), from the thread that will call run().
    // `on_connection` runs on the thread of the loop that owns each new stream.
    std::error_code listen(const endpoint& ep, connection_handler on_connection,
                           const group_listen_options& opt = {}) {
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

    // The local address of the (first) listening socket, e.g. to learn a port 0 choice.
    endpoint local_endpoint(std::error_code& ec) const {
        if (listeners_.empty()) {
            ec = make_error_code(error::not_open);
            return {};
        }
        return listeners_.front().local_endpoint(ec);
    }

    // Runs loop 0 on the calling thread and every other loop on a thread of its own,
    // until stop(); then each loop shuts down on its own thread, letting queued writes
    // flush for up to `grace`. Returns when all threads are done.
    void run(std::chrono::milliseconds grace = std::chrono::seconds(1)) {
        std::vector<std::thread> threads;
        for (std::size_t i = 1; i < loops_.size(); ++i)
            threads.emplace_back([this, i, grace] { run_one(i, grace); });
        run_one(0, grace);
        for (auto& t : threads) t.join();
    }

    // Thread-safe: every loop returns from run() after its current batch (a stop()
    // before run() makes run() return after one turn).
    void stop() noexcept {
        for (auto& l : loops_) l->stop();
    }

    // Streams open on loop i, plus connections handed to it and not yet adopted.
    std::size_t connections(std::size_t i) const noexcept {
        return loops_[i]->open_streams() + in_flight_[i].load(std::memory_order_relaxed);
    }
    // Connections each loop was given since listen() (for tests and stats; read it
    // after run() returned).
    std::size_t handed(std::size_t i) const noexcept { return handed_[i]; }

  private:
    std::error_code fail(std::error_code ec) {
        listeners_.clear();
        return ec;
    }

    // Each loop shuts down on its own thread: that closes its listener, too.
    void run_one(std::size_t i, std::chrono::milliseconds grace) {
        loop& l = *loops_[i];
        {
            // A worker with no connection yet has nothing registered; keep it running
            // so that connections handed to it later are served.
            auto guard = l.keep_alive();
            l.run();
        }
        l.shutdown(grace);
    }

    std::size_t choose() {
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

    // Acceptor thread (loop 0).
    void hand_off(native_socket s) {
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
            tcp_stream stream(
                detail::adopt_connected(*worker, std::exchange(sock.fd, invalid_socket)));
            in_flight_[i].fetch_sub(1, std::memory_order_relaxed);
            handler_(std::move(stream));
        });
    }

    std::vector<std::unique_ptr<loop>> loops_;
    std::vector<std::atomic<std::size_t>> in_flight_;
    std::vector<std::size_t> handed_;     // element i: written by one thread only
    std::vector<tcp_listener> listeners_; // destroyed before loops_
    connection_handler handler_;
    group_listen_options options_;
    std::size_t next_ = 0;
    std::error_code status_;
};

} // namespace sluice
