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
inline std::vector<endpoint> happy_eyeballs_order(const std::vector<endpoint>& in) {
    std::vector<const endpoint*> v6, other;
    for (const endpoint& e : in) (e.family() == AF_INET6 ? v6 : other).push_back(&e);
    std::vector<endpoint> out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < v6.size() || i < other.size(); ++i) {
        if (i < v6.size()) out.push_back(*v6[i]);
        if (i < other.size()) out.push_back(*other[i]);
    }
    return out;
}

class connector;

// A parallel attempt's socket. In the loop's live list (so a loop shutdown closes it);
// its pointer to the connector is a weak link the connector clears when it lets go.
class connect_attempt final : public io_object {
  public:
    connect_attempt(loop& l, connector* owner) noexcept : io_object(l), owner_(owner) {}
    inline void on_ready(unsigned events) override;
    void close_with(std::error_code) override {
        if (closed()) return;
        owner_ = nullptr;
        loop_->retire(this);
    }
    connector* owner_;
};

class connector final : public timer_node {
  public:
    connector(stream_impl& s, io_handler done, const connect_options& opt)
        : s_(s), done_(std::move(done)), delay_us_(opt.attempt_delay.count() * 1000) {
        if (opt.timeout.count() > 0) {
            deadline_us_ = loop::clock_us() + opt.timeout.count() * 1000;
            s_.loop_->schedule(this, deadline_us_);
        }
    }
    ~connector() {
        if (queued()) s_.loop_->unschedule(this);
        if (lookup_) lookup_->abandon();
        for (auto& a : attempts_) a->close_with(make_error_code(error::operation_aborted));
    }
    connector(const connector&) = delete;
    connector& operator=(const connector&) = delete;

    void lookup(std::string host, std::uint16_t port) {
        // `this` is a weak link: the destructor abandons the lookup, whose handler is then
        // released uncalled, so the handler only ever runs while this connector exists.
        lookup_ = lookup_op::start(
            *s_.loop_, std::move(host), port, SOCK_STREAM,
            [this](std::error_code ec, std::vector<endpoint> eps) {
                lookup_.reset();
                if (ec) return finish(ec);
                start(std::move(eps));
            });
    }

    void start(std::vector<endpoint> targets) {
        targets_ = targets.size() > 1 ? happy_eyeballs_order(targets) : std::move(targets);
        last_error_ = make_error_code(error::resolve_failed);
        if (!launch_next() && !in_flight()) finish(last_error_);
    }

    // The stream's own attempt reported (writable or failed).
    void own_ready() {
        std::error_code ec = connect_result(s_);
        if (!ec) return win({});
        last_error_ = ec;
        s_.drop_socket();
        own_in_flight_ = false;
        attempt_failed();
    }

    void attempt_ready(connect_attempt* a) {
        std::error_code ec = connect_result(*a);
        if (!ec) return win(a);
        last_error_ = ec;
        for (auto it = attempts_.begin(); it != attempts_.end(); ++it)
            if (it->get() == a) {
                ref<connect_attempt> gone = std::move(*it);
                attempts_.erase(it);
                gone->close_with(ec);
                break;
            }
        attempt_failed();
    }

    void on_timer() override {
        const std::int64_t now = s_.loop_->now_us();
        if (deadline_us_ && now >= deadline_us_) return finish(make_error_code(error::timed_out));
        if (next_attempt_us_ && now >= next_attempt_us_) {
            next_attempt_us_ = 0;
            launch_next();
        }
        reschedule();
    }

    // Ends the connect with `ec` (the handler is queued); the stream then deletes this.
    void finish(std::error_code ec) {
        if (own_in_flight_ && ec) s_.drop_socket();
        own_in_flight_ = false;
        s_.loop_->complete(std::move(done_), ec, 0);
        s_.connect_ended(!ec); // deletes this: nothing may follow
    }

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
    void attempt_failed() {
        if (!launch_next() && !in_flight()) return finish(last_error_);
        reschedule();
    }

    // Starts the next address that can be started; false when none is left.
    bool launch_next() {
        loop& l = *s_.loop_;
        while (next_ < targets_.size()) {
            const endpoint& ep = targets_[next_++];
            std::error_code ec;
            native_socket fd = platform::open_socket(ep.family(), SOCK_STREAM, ec);
            if (!ec) ec = platform::start_connect(fd, ep.data(), ep.size());
            if (ec) {
                platform::close_socket(fd);
                last_error_ = ec;
                continue; // unreachable at once: the next address now
            }
            if (!own_in_flight_ && s_.fd_ == invalid_socket) {
                s_.fd_ = fd;
                own_in_flight_ = true;
                s_.update_interest(); // writable: the result of the connect
            } else {
                ref<connect_attempt> a(new connect_attempt(l, this));
                a->fd_ = fd;
                l.adopt(a.get());
                l.watch(a.get(), ev_write);
                attempts_.push_back(std::move(a));
            }
            next_attempt_us_ = next_ < targets_.size() ? loop::clock_us() + delay_us_ : 0;
            reschedule();
            return true;
        }
        next_attempt_us_ = 0;
        return false;
    }

    // The first to connect: the stream's own socket (a == nullptr) or a parallel one,
    // whose descriptor then moves to the stream.
    void win(connect_attempt* a) {
        if (a) {
            if (own_in_flight_) s_.drop_socket();
            s_.loop_->unwatch_now(a);
            s_.fd_ = std::exchange(a->fd_, invalid_socket);
        }
        own_in_flight_ = false;
        finish({});
    }

    void reschedule() {
        std::int64_t at = deadline_us_;
        if (next_attempt_us_ && (!at || next_attempt_us_ < at)) at = next_attempt_us_;
        if (!at) {
            if (queued()) s_.loop_->unschedule(this);
            return;
        }
        s_.loop_->schedule(this, at);
    }

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
inline connector* make_connector(stream_impl& s, io_handler done, const connect_options& o) {
    return new connector(s, std::move(done), o);
}
inline void connector_start(connector* c, std::vector<endpoint> targets) {
    c->start(std::move(targets));
}
inline void connector_lookup(connector* c, std::string host, std::uint16_t port) {
    c->lookup(std::move(host), port);
}

} // namespace sluice::detail
