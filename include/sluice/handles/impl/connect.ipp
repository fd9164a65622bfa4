// sluice — out-of-line bodies of sluice/handles/connect.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/connect.hpp>

namespace sluice::detail {

SLUICE_DECL std::vector<endpoint> happy_eyeballs_order(const std::vector<endpoint>& in) {
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

SLUICE_DECL connector* make_connector(stream_impl& s, io_handler done, const connect_options& o) {
    return new connector(s, std::move(done), o);
}

SLUICE_DECL void connector_start(connector* c, std::vector<endpoint> targets) {
    c->start(std::move(targets));
}

SLUICE_DECL void connector_lookup(connector* c, std::string host, std::uint16_t port) {
    c->lookup(std::move(host), port);
}
} // namespace sluice::detail

namespace sluice::detail {

SLUICE_DECL void connect_attempt::close_with(std::error_code) {
    if (closed()) return;
    owner_ = nullptr;
    loop_->retire(this);
}

SLUICE_DECL connector::connector(stream_impl& s, io_handler done, const connect_options& opt)
    : s_(s), done_(std::move(done)), delay_us_(opt.attempt_delay.count() * 1000) {
    if (opt.timeout.count() > 0) {
        deadline_us_ = loop::clock_us() + opt.timeout.count() * 1000;
        s_.loop_->schedule(this, deadline_us_);
    }
}

SLUICE_DECL connector::~connector() {
    if (queued()) s_.loop_->unschedule(this);
    if (lookup_) lookup_->abandon();
    for (auto& a : attempts_) a->close_with(make_error_code(error::operation_aborted));
}

SLUICE_DECL void connector::lookup(std::string host, std::uint16_t port) {
    // `this` is a weak link: the destructor abandons the lookup, whose handler is then
    // released uncalled, so the handler only ever runs while this connector exists.
    lookup_ = lookup_op::start(*s_.loop_, std::move(host), port, SOCK_STREAM,
                               [this](std::error_code ec, std::vector<endpoint> eps) {
                                   lookup_.reset();
                                   if (ec) return finish(ec);
                                   start(std::move(eps));
                               });
}

SLUICE_DECL void connector::start(std::vector<endpoint> targets) {
    targets_ = targets.size() > 1 ? happy_eyeballs_order(targets) : std::move(targets);
    last_error_ = make_error_code(error::resolve_failed);
    if (!launch_next() && !in_flight()) finish(last_error_);
}

SLUICE_DECL void connector::own_ready() {
    std::error_code ec = connect_result(s_);
    if (!ec) return win({});
    last_error_ = ec;
    s_.drop_socket();
    own_in_flight_ = false;
    attempt_failed();
}

SLUICE_DECL void connector::attempt_ready(connect_attempt* a) {
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

SLUICE_DECL void connector::on_timer() {
    const std::int64_t now = s_.loop_->now_us();
    if (deadline_us_ && now >= deadline_us_) return finish(make_error_code(error::timed_out));
    if (next_attempt_us_ && now >= next_attempt_us_) {
        next_attempt_us_ = 0;
        launch_next();
    }
    reschedule();
}

SLUICE_DECL void connector::finish(std::error_code ec) {
    if (own_in_flight_ && ec) s_.drop_socket();
    own_in_flight_ = false;
    s_.loop_->complete(std::move(done_), ec, 0);
    s_.connect_ended(!ec); // deletes this: nothing may follow
}

SLUICE_DECL void connector::attempt_failed() {
    if (!launch_next() && !in_flight()) return finish(last_error_);
    reschedule();
}

SLUICE_DECL bool connector::launch_next() {
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

SLUICE_DECL void connector::win(connect_attempt* a) {
    if (a) {
        if (own_in_flight_) s_.drop_socket();
        s_.loop_->unwatch_now(a);
        s_.fd_ = std::exchange(a->fd_, invalid_socket);
    }
    own_in_flight_ = false;
    finish({});
}

SLUICE_DECL void connector::reschedule() {
    std::int64_t at = deadline_us_;
    if (next_attempt_us_ && (!at || next_attempt_us_ < at)) at = next_attempt_us_;
    if (!at) {
        if (queued()) s_.loop_->unschedule(this);
        return;
    }
    s_.loop_->schedule(this, at);
}
} // namespace sluice::detail
