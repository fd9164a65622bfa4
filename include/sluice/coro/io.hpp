// sluice — awaitable I/O. Each awaiter drives the same handle operation a callback
// user would call (stream::read_some, stream::write, timer::async_wait_us, ...), with
// a completion handler that only resumes the coroutine: no second I/O path, and no
// allocation per await (except where noted: connect copies its address list, and
// sleep_for(loop, d) creates a timer; await a timer you keep to avoid that).
//
// Every awaiter listens to the awaiting chain's cancellation signal (see cancel.hpp):
// cancelling completes the pending operation with error::operation_aborted, through
// the handle's own cancel (stream::cancel_read, cancel_write, cancel_connect,
// basic_listener::cancel_accept, udp_socket::cancel_recv, timer::cancel). An await
// that starts after its signal fired completes at once with operation_aborted.
// offload() and hop() cannot be interrupted: they finish, and the next await sees the
// cancellation. send_to() is not cancellable once started.
//
// Every awaitable and every function returning one is [[nodiscard]]: an awaitable that
// is not co_awaited does nothing, and a forgotten co_await must not compile silently.
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/task.hpp>
#include <sluice/handles/tcp.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/handles/udp.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace detail {

// What an awaiter keeps of the handle it started on: a counted reference to the
// implementation, so that a cancel arriving after the user destroyed or moved the handle
// object reaches the right socket, or nothing, never freed memory.
template <class Impl>
Impl* live(const ref<Impl>& r) noexcept {
    return r && !r->closed() && r->loop_ ? r.get() : nullptr;
}

template <class H>
std::error_code check_handle(const H& h) noexcept {
    if (!h.impl()) return make_error_code(error::not_open);
    if (!h.get_loop()) return make_error_code(error::loop_gone);
    return {};
}

class [[nodiscard]] read_some_op final : public io_op<read_some_op> {
  public:
    read_some_op(stream& s, mutable_buffer b) noexcept : s_(&s), b_(b) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*s_); }
    void initiate(const coro_context&) {
        impl_ = s_->impl_ref();
        s_->read_some(b_, resumer<read_some_op>(this));
    }
    void on_complete(std::error_code ec, std::size_t n) {
        ec_ = ec;
        n_ = n;
        finish();
    }
    void on_cancel() override {
        if (stream_impl* i = live(impl_)) i->cancel_read();
    }
    result<std::size_t> await_resume() const noexcept { return {ec_, n_}; }
    sluice::loop* hint_loop() const noexcept { return s_->get_loop(); }

  private:
    stream* s_;
    mutable_buffer b_;
    ref<stream_impl> impl_;
};

class [[nodiscard]] read_exact_op final : public io_op<read_exact_op> {
  public:
    read_exact_op(stream& s, mutable_buffer b) noexcept : s_(&s), b_(b) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*s_); }
    void initiate(const coro_context&) {
        impl_ = s_->impl_ref();
        issue();
    }
    void on_complete(std::error_code ec, std::size_t n) {
        n_ += n;
        // A cancel that came while no step was pending (between two) ends it here.
        if (!ec && n_ < b_.size && cancel_requested()) ec = make_error_code(error::operation_aborted);
        if (!ec && n_ < b_.size) return issue();
        ec_ = ec;
        finish();
    }
    void on_cancel() override {
        if (stream_impl* i = live(impl_)) i->cancel_read();
    }
    // On error, value is the number of bytes read before it.
    result<std::size_t> await_resume() const noexcept { return {ec_, n_}; }
    sluice::loop* hint_loop() const noexcept { return s_->get_loop(); }

  private:
    void issue() {
        // Through the implementation: the user's handle object may be gone by now.
        stream_impl* i = live(impl_);
        if (!i) return on_complete(make_error_code(error::not_open), 0);
        if (i->read_cb_) return on_complete(make_error_code(error::in_progress), 0);
        i->start_read(static_cast<char*>(b_.data) + n_, b_.size - n_,
                      resumer<read_exact_op>(this), false);
    }
    stream* s_;
    mutable_buffer b_;
    ref<stream_impl> impl_;
};

class [[nodiscard]] write_op final : public io_op<write_op> {
  public:
    write_op(stream& s, const_buffer b) noexcept : s_(&s), b_(b) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*s_); }
    void initiate(const coro_context&) {
        impl_ = s_->impl_ref();
        id_ = s_->write_with_id(b_, resumer<write_op>(this));
    }
    void on_complete(std::error_code ec, std::size_t n) {
        ec_ = ec;
        n_ = n;
        finish();
    }
    // Only this write: withdrawn if untouched and last, else the stream fails (no hole).
    void on_cancel() override {
        if (stream_impl* i = live(impl_)) i->cancel_write(id_);
    }
    result<std::size_t> await_resume() const noexcept { return {ec_, n_}; }
    sluice::loop* hint_loop() const noexcept { return s_->get_loop(); }

  private:
    stream* s_;
    const_buffer b_;
    std::uint64_t id_ = 0;
    ref<stream_impl> impl_;
};

class [[nodiscard]] connect_op final : public io_op<connect_op> {
  public:
    connect_op(tcp_stream& s, std::vector<endpoint> eps) : s_(&s), eps_(std::move(eps)) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*s_); }
    void initiate(const coro_context&) {
        impl_ = s_->impl_ref();
        s_->connect(std::move(eps_), resumer<connect_op>(this));
    }
    void on_complete(std::error_code ec) {
        ec_ = ec;
        finish();
    }
    void on_cancel() override {
        if (stream_impl* i = live(impl_)) i->cancel_connect(make_error_code(error::operation_aborted));
    }
    std::error_code await_resume() const noexcept { return ec_; }
    sluice::loop* hint_loop() const noexcept { return s_->get_loop(); }

  private:
    tcp_stream* s_;
    std::vector<endpoint> eps_;
    ref<stream_impl> impl_;
};

// Connects by name (tcp_stream::connect(host, port)): cancellable while the name lookup
// still runs. Holds a pointer to the host, which lives in the calling coroutine's frame
// (GCC 12 may copy an awaiter's bytes within a frame, which a std::string does not survive).
class [[nodiscard]] connect_host_op final : public io_op<connect_host_op> {
  public:
    connect_host_op(tcp_stream& s, const std::string& host, std::uint16_t port) noexcept
        : s_(&s), host_(&host), port_(port) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*s_); }
    void initiate(const coro_context&) {
        impl_ = s_->impl_ref();
        s_->connect(*host_, port_, resumer<connect_host_op>(this));
    }
    void on_complete(std::error_code ec) {
        ec_ = ec;
        finish();
    }
    void on_cancel() override {
        if (stream_impl* i = live(impl_)) i->cancel_connect(make_error_code(error::operation_aborted));
    }
    std::error_code await_resume() const noexcept { return ec_; }
    sluice::loop* hint_loop() const noexcept { return s_->get_loop(); }

  private:
    tcp_stream* s_;
    const std::string* host_;
    std::uint16_t port_;
    ref<stream_impl> impl_;
};

// A name lookup on the chain's loop (detail::lookup_op): cancellable, and the loop never
// waits for the worker thread. Holds a pointer to the host, like connect_host_op.
class [[nodiscard]] resolve_op final : public io_op<resolve_op> {
  public:
    resolve_op(const std::string& host, std::uint16_t port, int socktype) noexcept
        : host_(&host), port_(port), socktype_(socktype) {}
    std::error_code precheck(const coro_context& ctx) const noexcept {
        return ctx.lp() ? std::error_code() : make_error_code(error::not_open);
    }
    void initiate(const coro_context& ctx) {
        op_ = lookup_op::start(*ctx.lp(), *host_, port_, socktype_, resumer<resolve_op>(this));
    }
    void on_complete(std::error_code ec, std::vector<endpoint> found) {
        ec_ = ec;
        found_ = std::move(found);
        op_.reset();
        finish();
    }
    void on_cancel() override {
        if (op_) op_->close_with(make_error_code(error::operation_aborted));
    }
    result<std::vector<endpoint>> await_resume() noexcept { return {ec_, std::move(found_)}; }

  private:
    const std::string* host_;
    std::uint16_t port_;
    int socktype_;
    ref<lookup_op> op_;
    std::vector<endpoint> found_;
};

template <class S>
class [[nodiscard]] accept_op final : public io_op<accept_op<S>> {
  public:
    explicit accept_op(basic_listener<S>& l) noexcept : l_(&l) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*l_); }
    void initiate(const coro_context&) {
        impl_ = l_->impl_ref();
        l_->accept(resumer<accept_op>(this));
    }
    void on_complete(std::error_code ec, S s) {
        this->ec_ = ec;
        out_ = std::move(s);
        this->finish();
    }
    void on_cancel() override {
        if (listener_impl* i = live(impl_)) i->cancel_accept();
    }
    result<S> await_resume() noexcept { return {this->ec_, std::move(out_)}; }
    sluice::loop* hint_loop() const noexcept { return l_->get_loop(); }

  private:
    basic_listener<S>* l_;
    S out_;
    ref<listener_impl> impl_;
};

class [[nodiscard]] sleep_op final : public io_op<sleep_op> {
  public:
    // Exactly one of `t` and `l` is set; with `l` the awaiter makes its own timer.
    sleep_op(timer* t, sluice::loop* l, std::int64_t at_us) noexcept
        : t_(t), l_(l), at_us_(at_us) {}
    std::error_code precheck(const coro_context& ctx) {
        if (!t_) {
            if (!l_) l_ = ctx.lp();
            if (!l_) return make_error_code(error::not_open);
            own_ = timer(*l_);
            t_ = &own_;
        }
        return check_handle(*t_);
    }
    void initiate(const coro_context&) {
        std::int64_t left = at_us_ - loop::clock_us();
        impl_ = t_->impl_ref();
        t_->async_wait_us(left > 0 ? left : 0, resumer<sleep_op>(this));
    }
    void on_complete(std::error_code ec, std::size_t) {
        ec_ = ec;
        finish();
    }
    void on_cancel() override {
        if (timer_impl* i = live(impl_)) i->cancel(make_error_code(error::operation_aborted));
    }
    std::error_code await_resume() const noexcept { return ec_; }
    sluice::loop* hint_loop() const noexcept { return t_ ? t_->get_loop() : l_; }

  private:
    timer* t_;
    sluice::loop* l_;
    std::int64_t at_us_;
    timer own_;
    ref<timer_impl> impl_;
};

template <class F>
class [[nodiscard]] offload_op final : public io_op<offload_op<F>> {
    using R = std::invoke_result_t<F&>;
    struct empty {};
    using slot = std::conditional_t<std::is_void_v<R>, empty, std::optional<R>>;

  public:
    static constexpr bool cancellable = false;
    offload_op(sluice::loop* l, F f) : l_(l), f_(std::move(f)) {}
    std::error_code precheck(const coro_context& ctx) {
        if (!l_) l_ = ctx.lp();
        if (!l_) return make_error_code(error::not_open);
        return {};
    }
    void initiate(const coro_context&) {
        l_->offload(
            [this] {
                if constexpr (std::is_void_v<R>)
                    f_();
                else
                    value_.emplace(f_());
            },
            resumer<offload_op>(this));
    }
    void on_complete() { this->finish(); }
    // The value of f(); awaiting outside a spawned chain without a loop is an error
    // (std::abort, as there is no value to return).
    R await_resume() {
        if (this->ec_) std::abort();
        if constexpr (!std::is_void_v<R>) return std::move(*value_);
    }
    sluice::loop* hint_loop() const noexcept { return l_; }

  private:
    sluice::loop* l_;
    F f_;
    slot value_;
};

class [[nodiscard]] hop_op final : public io_op<hop_op> {
  public:
    static constexpr bool cancellable = false;
    explicit hop_op(sluice::loop& target) noexcept : target_(&target) {}
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        // A task whose awaiter has not suspended yet was started synchronously inside its
        // parents' awaits, which are still on this thread's stack and touch their frames
        // as they return (see task_final_awaiter's handoff).
        if constexpr (std::is_base_of_v<promise_base, P>)
            nested_ = h.promise().handoff.load(std::memory_order_relaxed) != 1;
        return start(h, context_of(h));
    }
    std::error_code precheck(const coro_context& ctx) const noexcept {
        if (ctx.pinned) return std::make_error_code(std::errc::operation_not_permitted);
        return {};
    }
    void initiate(const coro_context& ctx) {
        sluice::loop* home = ctx.lp();
        if (!home) return target_->post(resumer<hop_op>(this)); // outside a spawned chain
        // The whole chain moves: every frame reads its loop from the shared state.
        ctx.chain->lp = target_;
        if (!nested_) return target_->post(resumer<hop_op>(this));
        // Posted from the home loop once the parents' awaits have returned, so the target
        // thread resumes the chain only after their last touch, and the parents then
        // always continue there, never on the home thread.
        home->defer([target = target_, r = resumer<hop_op>(this)]() mutable {
            target->post(std::move(r));
        });
    }
    void on_complete() { finish(); }
    // Empty once on the target's thread; std::errc::operation_not_permitted when the
    // frame is pinned to its loop, and then it did not move.
    [[nodiscard]] std::error_code await_resume() const noexcept { return ec_; }
    sluice::loop* hint_loop() const noexcept { return nullptr; }

  private:
    sluice::loop* target_;
    bool nested_ = true;
};

class [[nodiscard]] recv_from_op final : public io_op<recv_from_op> {
  public:
    recv_from_op(udp_socket& u, mutable_buffer b) noexcept : u_(&u), b_(b) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*u_); }
    void initiate(const coro_context&) {
        impl_ = u_->impl_ref();
        u_->recv_from(b_, resumer<recv_from_op>(this));
    }
    void on_complete(std::error_code ec, std::string_view data, const endpoint& from) {
        ec_ = ec;
        n_ = data.size();
        from_ = from;
        finish();
    }
    void on_cancel() override {
        if (udp_impl* i = live(impl_)) i->cancel_recv();
    }
    struct datagram {
        std::size_t size = 0;
        endpoint from;
    };
    // error std::errc::message_size: the datagram was truncated to the buffer.
    result<datagram> await_resume() const noexcept { return {ec_, {n_, from_}}; }
    sluice::loop* hint_loop() const noexcept { return u_->get_loop(); }

  private:
    udp_socket* u_;
    mutable_buffer b_;
    endpoint from_;
    ref<udp_impl> impl_;
};

class [[nodiscard]] send_to_op final : public io_op<send_to_op> {
  public:
    static constexpr bool cancellable = false;
    send_to_op(udp_socket& u, const endpoint& to, const_buffer b) noexcept
        : u_(&u), to_(to), b_(b) {}
    std::error_code precheck(const coro_context&) const noexcept { return check_handle(*u_); }
    void initiate(const coro_context&) { u_->send_to(to_, b_, resumer<send_to_op>(this)); }
    void on_complete(std::error_code ec, std::size_t n) {
        ec_ = ec;
        n_ = n;
        finish();
    }
    result<std::size_t> await_resume() const noexcept { return {ec_, n_}; }
    sluice::loop* hint_loop() const noexcept { return u_->get_loop(); }

  private:
    udp_socket* u_;
    endpoint to_;
    const_buffer b_;
};

} // namespace detail

// ---- streams ----

// At most buf.size bytes: {ec, n}; end of stream is error::eof.
[[nodiscard]] inline detail::read_some_op read_some(stream& s, mutable_buffer buf) noexcept {
    return detail::read_some_op(s, buf);
}
[[nodiscard]] inline detail::read_some_op read_some(stream& s, void* data,
                                                    std::size_t size) noexcept {
    return detail::read_some_op(s, mutable_buffer(data, size));
}
// Exactly buf.size bytes (several reads): {ec, bytes read}.
[[nodiscard]] inline detail::read_exact_op read_exact(stream& s, mutable_buffer buf) noexcept {
    return detail::read_exact_op(s, buf);
}
[[nodiscard]] inline detail::read_exact_op read_exact(stream& s, void* data,
                                                      std::size_t size) noexcept {
    return detail::read_exact_op(s, mutable_buffer(data, size));
}
// All the bytes (in order with every other write on the stream): {ec, size} once the
// kernel has them. The buffer must stay valid until then.
[[nodiscard]] inline detail::write_op write(stream& s, const_buffer data) noexcept {
    return detail::write_op(s, data);
}
[[nodiscard]] inline detail::write_op write(stream& s, std::string_view data) noexcept {
    return detail::write_op(s, const_buffer(data));
}

// ---- connecting and accepting ----

[[nodiscard]] inline detail::connect_op connect(tcp_stream& s, const endpoint& ep) {
    return detail::connect_op(s, std::vector<endpoint>{ep});
}
// The first address that accepts, tried in order.
[[nodiscard]] inline detail::connect_op connect(tcp_stream& s, std::vector<endpoint> candidates) {
    return detail::connect_op(s, std::move(candidates));
}

template <class S>
[[nodiscard]] detail::accept_op<S> accept(basic_listener<S>& l) noexcept {
    return detail::accept_op<S>(l);
}

// ---- the thread pool and other loops ----

// Runs f() on the thread pool and resumes on `l` with its value.
template <class F>
[[nodiscard]] detail::offload_op<std::decay_t<F>> offload(loop& l, F&& f) {
    return detail::offload_op<std::decay_t<F>>(&l, std::forward<F>(f));
}
// The same on the loop the awaiting task was spawned on.
template <class F>
[[nodiscard]] detail::offload_op<std::decay_t<F>> offload(F&& f) {
    return detail::offload_op<std::decay_t<F>>(nullptr, std::forward<F>(f));
}

// Moves the whole chain to `target`'s thread: this frame resumes there, and so do the
// frames awaiting it when it returns. Every frame's later awaits that take their loop
// from the chain (current_loop(), sleep_for(d), with_timeout, offload(f)) use `target`,
// and the chain's completion runs there unless it hops back.
// Returns an empty error_code once on `target`, or std::errc::operation_not_permitted
// without moving when the frame is pinned to its loop: inside a when_all/when_any child
// (its siblings run on this loop), a with_timeout/with_cancellation scope (its timer or
// token belongs to this loop), or a chain spawned with a cancellation token.
// While the chain is away, its home loop may run out of work and return from run():
// hold a loop::keep_alive() guard there if it should wait for the chain to come back.
// Beware thread identity cached across the co_await: clang (14) may reuse a value of
// pthread_self()/std::this_thread::get_id() or a thread_local's address computed
// before the hop.
[[nodiscard]] inline detail::hop_op hop(loop& target) noexcept { return detail::hop_op(target); }

// The coroutines below are templates only so that they are compiled where they are
// used: GCC 12 emits the body of every inline, non-template coroutine (with local
// linkage) in each translation unit that merely includes the header.

// Resolves host:port on the thread pool; cancellable (with_timeout, a token) while the
// lookup runs, whose answer is then discarded.
template <class Unused = void>
[[nodiscard]] task<result<std::vector<endpoint>>> resolve(std::string host, std::uint16_t port,
                                                          int socktype = SOCK_STREAM) {
    co_return co_await detail::resolve_op(host, port, socktype);
}

// Resolves, then connects (Happy Eyeballs, connect_options' defaults); cancellable at
// every stage, the name lookup included.
template <class Unused = void>
[[nodiscard]] task<std::error_code> connect(tcp_stream& s, std::string host, std::uint16_t port) {
    co_return co_await detail::connect_host_op(s, host, port);
}

// ---- timers ----

template <class Rep, class Period>
[[nodiscard]] detail::sleep_op sleep_for(timer& t, std::chrono::duration<Rep, Period> d) noexcept {
    return detail::sleep_op(&t, nullptr, loop::clock_us() + detail::duration_us(d));
}
template <class Rep, class Period>
[[nodiscard]] detail::sleep_op sleep_for(loop& l, std::chrono::duration<Rep, Period> d) noexcept {
    return detail::sleep_op(nullptr, &l, loop::clock_us() + detail::duration_us(d));
}
template <class Rep, class Period>
[[nodiscard]] detail::sleep_op sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
    return detail::sleep_op(nullptr, nullptr, loop::clock_us() + detail::duration_us(d));
}
[[nodiscard]] inline detail::sleep_op sleep_until(timer& t, loop::clock::time_point when) noexcept {
    return detail::sleep_op(&t, nullptr, detail::duration_us(when.time_since_epoch()));
}
[[nodiscard]] inline detail::sleep_op sleep_until(loop& l, loop::clock::time_point when) noexcept {
    return detail::sleep_op(nullptr, &l, detail::duration_us(when.time_since_epoch()));
}

namespace detail {
struct [[nodiscard]] current_loop_awaiter {
    sluice::loop* lp = nullptr;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        lp = context_of(h).lp();
        return false;
    }
    sluice::loop* await_resume() const noexcept { return lp; }
};
} // namespace detail

// The loop the awaiting chain runs on (nullptr outside a spawned chain); never suspends.
[[nodiscard]] inline detail::current_loop_awaiter current_loop() noexcept { return {}; }

// ---- UDP ----

[[nodiscard]] inline detail::recv_from_op recv_from(udp_socket& u, mutable_buffer buf) noexcept {
    return detail::recv_from_op(u, buf);
}
[[nodiscard]] inline detail::send_to_op send_to(udp_socket& u, const endpoint& to,
                                                const_buffer data) noexcept {
    return detail::send_to_op(u, to, data);
}
[[nodiscard]] inline detail::send_to_op send_to(udp_socket& u, const endpoint& to,
                                                std::string_view data) noexcept {
    return detail::send_to_op(u, to, const_buffer(data));
}

} // namespace sluice

#endif // SLUICE_HAS_COROUTINES
