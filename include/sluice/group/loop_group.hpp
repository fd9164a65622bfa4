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
SLUICE_DECL bool parse_spread(std::string_view name, spread& out) noexcept;
SLUICE_DECL bool parse_policy(std::string_view name, handoff_policy& out) noexcept;

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

    SLUICE_DECL explicit loop_group(std::size_t loops, backend b = backend::automatic);
    loop_group(const loop_group&) = delete;
    loop_group& operator=(const loop_group&) = delete;

    // Non-empty when a loop could not start its backend.
    std::error_code status() const noexcept { return status_; }
    std::size_t size() const noexcept { return loops_.size(); }
    loop& at(std::size_t i) { return *loops_[i]; }
    // The index of loop `l` in this group, or size() when it is not one of them.
    SLUICE_DECL std::size_t index_of(const loop* l) const noexcept;

    // Starts listening; call before run(), from the thread that will call run().
    // `on_connection` runs on the thread of the loop that owns each new stream.
    SLUICE_DECL std::error_code listen(const endpoint& ep, connection_handler on_connection,
                           const group_listen_options& opt = {});

    // The local address of the (first) listening socket, e.g. to learn a port 0 choice.
    SLUICE_DECL endpoint local_endpoint(std::error_code& ec) const;

    // Runs loop 0 on the calling thread and every other loop on a thread of its own,
    // until stop(); then each loop shuts down on its own thread, letting queued writes
    // flush for up to `grace`. Returns when all threads are done.
    SLUICE_DECL void run(std::chrono::milliseconds grace = std::chrono::seconds(1));

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
    SLUICE_DECL std::error_code fail(std::error_code ec);

    // Each loop shuts down on its own thread: that closes its listener, too.
    SLUICE_DECL void run_one(std::size_t i, std::chrono::milliseconds grace);

    SLUICE_DECL std::size_t choose();

    // Acceptor thread (loop 0).
    SLUICE_DECL void hand_off(native_socket s);

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

#if SLUICE_COMPILE_BODIES
#include <sluice/group/impl/loop_group.ipp>
#endif
