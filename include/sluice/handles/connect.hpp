// sluice — connecting a stream: a cancellable name lookup, Happy Eyeballs (RFC 8305) and
// a timeout for the whole connect.
//
// The addresses are ordered IPv6 first, then alternating families (RFC 8305 §4). The
// first attempt runs on the stream's own socket; when it has not connected after
// connect_options::attempt_delay (250 ms), or as soon as it fails, the next address is
// tried in parallel on a socket of its own, and so on. The first attempt to connect
// wins: its socket becomes the stream's, every other one is closed. The handler runs
// once, from the loop: success, the last attempt's error, error::timed_out after
// connect_options::timeout, or operation_aborted when cancelled or closed — at once,
// even while the name lookup is still running on the thread pool (its answer is then
// discarded).
#pragma once

#include <sluice/handles/resolve.hpp>
#include <sluice/handles/stream_impl.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::detail {

// RFC 8305 §4: IPv6 first, then the families alternate; within a family the resolver's
// order (RFC 6724) is kept.
SLUICE_DECL std::vector<endpoint> happy_eyeballs_order(const std::vector<endpoint>& in);

class connector;

// A parallel attempt's socket. In the loop's live list (so a loop shutdown closes it);
// its pointer to the connector is a weak link the connector clears when it lets go.
class connect_attempt final : public io_object {
  public:
    connect_attempt(loop& l, connector* owner) noexcept : io_object(l), owner_(owner) {}
    SLUICE_DECL void on_ready(unsigned events) override;
    SLUICE_DECL void close_with(std::error_code) override;
    connector* owner_;
};

class connector final : public timer_node {
  public:
    SLUICE_DECL connector(stream_impl& s, io_handler done, const connect_options& opt);
    SLUICE_DECL ~connector();
    connector(const connector&) = delete;
    connector& operator=(const connector&) = delete;

    SLUICE_DECL void lookup(std::string host, std::uint16_t port);

    SLUICE_DECL void start(std::vector<endpoint> targets);

    // The stream's own attempt reported (writable or failed).
    SLUICE_DECL void own_ready();

    SLUICE_DECL void attempt_ready(connect_attempt* a);

    SLUICE_DECL void on_timer() override;

    // Ends the connect with `ec` (the handler is queued); the stream then deletes this.
    SLUICE_DECL void finish(std::error_code ec);

  private:
    bool in_flight() const noexcept { return own_in_flight_ || !attempts_.empty(); }

    // How an attempt that became ready ended: BSD's kqueue reports a refused connect on
    // the event itself (EV_EOF, the error in fflags), so that comes first; SO_ERROR
    // is the answer everywhere else.
    std::error_code connect_result(const io_object& o) const noexcept {
        std::error_code ec = s_.loop_->reported_error(&o);
        return ec ? ec : platform::pending_socket_error(o.fd_);
    }

    // A failed attempt starts the next one at once (RFC 8305 §5).
    SLUICE_DECL void attempt_failed();

    // Starts the next address that can be started; false when none is left.
    SLUICE_DECL bool launch_next();

    // The first to connect: the stream's own socket (a == nullptr) or a parallel one,
    // whose descriptor then moves to the stream.
    SLUICE_DECL void win(connect_attempt* a);

    SLUICE_DECL void reschedule();

    stream_impl& s_; // the owner: this lives inside its stream_ext
    io_handler done_;
    std::int64_t delay_us_;
    std::int64_t deadline_us_ = 0, next_attempt_us_ = 0; // 0: none
    std::vector<endpoint> targets_;
    std::size_t next_ = 0;
    bool own_in_flight_ = false;
    std::vector<ref<connect_attempt>> attempts_;
    ref<lookup_op> lookup_;
    std::error_code last_error_;
};

inline void connect_attempt::on_ready(unsigned events) {
    if (events && owner_) owner_->attempt_ready(this);
}

inline void connector_own_ready(connector* c) { c->own_ready(); }
inline void connector_cancel(connector* c, std::error_code reason) { c->finish(reason); }
inline void delete_connector(connector* c) noexcept { delete c; }
SLUICE_DECL connector* make_connector(stream_impl& s, io_handler done, const connect_options& o);
SLUICE_DECL void connector_start(connector* c, std::vector<endpoint> targets);
SLUICE_DECL void connector_lookup(connector* c, std::string host, std::uint16_t port);

} // namespace sluice::detail

#if SLUICE_COMPILE_BODIES
#include <sluice/handles/impl/connect.ipp>
#endif
