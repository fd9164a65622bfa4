// sluice — cancellation scopes for awaits: with_cancellation(), with_timeout(),
// when_all(), when_any().
//
// A chain's awaits listen to the chain's cancellation signal (spawn(..., token) sets
// it). These adaptors open a nested scope: a signal of their own, linked to the outer
// one, so cancelling the outer scope still cancels everything inside.
//
//   auto [ec, n] = co_await with_timeout(read_some(s, buf), 2s); // ec == timed_out
//   auto r = co_await with_cancellation(accept(listener), source.token());
//   auto [a, b] = co_await when_all(task_a(), task_b());
//   auto v = co_await when_any(task_a(), task_b()); // v.index(): the winner
//
// with_timeout maps operation_aborted to error::timed_out in the result (an
// std::error_code or a result<T>) when its timer fired. The timer is a node in the
// loop's timer heap inside the awaiter: no allocation.
//
// Each of these scopes is bound to the loop it started on (the timer is in that loop's
// heap, a token's source belongs to that loop's thread, when_all/when_any children run
// side by side there): the frames inside are pinned, and hop() there fails with
// std::errc::operation_not_permitted instead of moving the chain.
#pragma once

#include <sluice/config.hpp>

#include <sluice/coro/token.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/task.hpp>

#include <array>
#include <tuple>
#include <variant>

namespace sluice {
namespace detail {

template <class R>
void mark_timed_out(R& r) noexcept {
    if constexpr (std::is_same_v<R, std::error_code>) {
        if (r == make_error_code(error::operation_aborted)) r = make_error_code(error::timed_out);
    } else if constexpr (requires { r.ec = std::error_code(); }) {
        if (r.ec == make_error_code(error::operation_aborted))
            r.ec = make_error_code(error::timed_out);
    }
}

// Awaits `A` inside a nested cancellation scope that the outer scope, an optional
// token and an optional deadline can each cancel.
template <class A>
class [[nodiscard]] scoped_awaiter final : private timer_node, private cancel_slot {
  public:
    scoped_awaiter(A&& inner, std::int64_t timeout_us, cancellation_token token)
        : inner_(std::move(inner)), timeout_us_(timeout_us), token_(std::move(token)),
          token_link_(&sig_) {}
    scoped_awaiter(scoped_awaiter&& o)
        : inner_(std::move(o.inner_)), timeout_us_(o.timeout_us_), token_(std::move(o.token_)),
          token_link_(&sig_) {}
    ~scoped_awaiter() {
        if (lp_) lp_->unschedule(this);
    }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start(h, context_of(h));
    }
    bool start(std::coroutine_handle<> cont, const coro_context& ctx) {
        coro_context inner = ctx;
        inner.cancel = &sig_;
        inner.pinned = true;
        if (ctx.cancel) {
            if (ctx.cancel->cancelled())
                sig_.emit();
            else
                attach(ctx.cancel);
        }
        if (token_) {
            if (token_.is_cancelled())
                sig_.emit();
            else
                token_link_.attach(token_.signal());
        }
        if (timeout_us_ >= 0 && !sig_.cancelled()) {
            lp_ = ctx.lp() ? ctx.lp() : as_awaiter(inner_).hint_loop();
            if (lp_) lp_->schedule(static_cast<timer_node*>(this), loop::clock_us() + timeout_us_);
        }
        return as_awaiter(inner_).start(cont, inner);
    }
    decltype(auto) await_resume() {
        if (lp_) lp_->unschedule(static_cast<timer_node*>(this));
        cancel_slot::detach();
        token_link_.detach();
        decltype(auto) r = as_awaiter(inner_).await_resume();
        if constexpr (!std::is_void_v<decltype(r)>)
            if (fired_) mark_timed_out(r);
        return r;
    }
    // True when the deadline passed (whatever the operation then returned).
    bool timed_out() const noexcept { return fired_; }

  private:
    void on_timer() override {
        fired_ = true;
        sig_.emit();
    }
    void on_cancel() override { sig_.emit(); }

    A inner_;
    std::int64_t timeout_us_;
    cancellation_token token_;
    cancel_signal sig_;
    signal_link token_link_;
    sluice::loop* lp_ = nullptr;
    bool fired_ = false;
};

template <class T>
using value_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
value_or_monostate<T> take_value(task<T>& t) {
    if constexpr (std::is_void_v<T>) {
        t.handle().promise().take();
        return {};
    } else {
        return t.handle().promise().take();
    }
}

template <class T>
void start_child(task<T>& t, const coro_context& ctx,
                 std::coroutine_handle<> (*notify)(void*) noexcept, void* arg) {
    auto& p = t.handle().promise();
    p.ctx = ctx;
    p.notify = notify;
    p.notify_arg = arg;
    t.handle().resume();
}

template <class... Ts>
class [[nodiscard]] when_all_awaiter {
  public:
    explicit when_all_awaiter(task<Ts>... t) : tasks_(std::move(t)...) {}
    bool await_ready() const noexcept { return sizeof...(Ts) == 0; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start(h, context_of(h));
    }
    bool start(std::coroutine_handle<> cont, const coro_context& ctx) {
        cont_ = cont;
        pending_ = sizeof...(Ts) + 1; // +1: no child can resume us while we start them
        coro_context inner = ctx;
        inner.pinned = true; // the children run side by side on this loop
        std::apply([&](auto&... t) { (start_child(t, inner, &child_done, this), ...); }, tasks_);
        return --pending_ != 0;
    }
    std::tuple<value_or_monostate<Ts>...> await_resume() {
        return std::apply(
            [](auto&... t) { return std::tuple<value_or_monostate<Ts>...>(take_value(t)...); },
            tasks_);
    }
    sluice::loop* hint_loop() const noexcept { return nullptr; }

  private:
    static std::coroutine_handle<> child_done(void* self) noexcept {
        auto* a = static_cast<when_all_awaiter*>(self);
        return --a->pending_ == 0 ? a->cont_ : std::noop_coroutine();
    }
    std::tuple<task<Ts>...> tasks_;
    std::size_t pending_ = 0;
    std::coroutine_handle<> cont_;
};

template <class... Ts>
class [[nodiscard]] when_any_awaiter : private cancel_slot {
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

  public:
    explicit when_any_awaiter(task<Ts>... t) : tasks_(std::move(t)...) {}
    when_any_awaiter(when_any_awaiter&& o) noexcept : cancel_slot(), tasks_(std::move(o.tasks_)) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start(h, context_of(h));
    }
    bool start(std::coroutine_handle<> cont, const coro_context& ctx) {
        cont_ = cont;
        pending_ = sizeof...(Ts) + 1;
        if (ctx.cancel) {
            if (ctx.cancel->cancelled())
                losers_.emit();
            else
                attach(ctx.cancel);
        }
        coro_context inner = ctx;
        inner.cancel = &losers_;
        inner.pinned = true; // the children run side by side on this loop
        start_all(inner, std::index_sequence_for<Ts...>{});
        return --pending_ != 0;
    }
    // The winner's value, at the winner's index.
    std::variant<value_or_monostate<Ts>...> await_resume() {
        detach();
        return make<0>();
    }
    std::size_t winner() const noexcept { return winner_; }
    sluice::loop* hint_loop() const noexcept { return nullptr; }

  private:
    struct child_ref {
        when_any_awaiter* self;
        std::size_t index;
    };
    template <std::size_t... I>
    void start_all(const coro_context& ctx, std::index_sequence<I...>) {
        ((refs_[I] = child_ref{this, I}), ...);
        (start_child(std::get<I>(tasks_), ctx, &child_done, &refs_[I]), ...);
    }
    static std::coroutine_handle<> child_done(void* arg) noexcept {
        auto* r = static_cast<child_ref*>(arg);
        when_any_awaiter* a = r->self;
        if (a->winner_ == none) {
            a->winner_ = r->index;
            a->losers_.emit(); // the others complete with operation_aborted
        }
        return --a->pending_ == 0 ? a->cont_ : std::noop_coroutine();
    }
    void on_cancel() override { losers_.emit(); }

    template <std::size_t I>
    std::variant<value_or_monostate<Ts>...> make() {
        if constexpr (I + 1 < sizeof...(Ts)) {
            if (winner_ != I) return make<I + 1>();
        }
        return std::variant<value_or_monostate<Ts>...>(std::in_place_index<I>,
                                                       take_value(std::get<I>(tasks_)));
    }

    std::tuple<task<Ts>...> tasks_;
    std::array<child_ref, sizeof...(Ts)> refs_{};
    cancel_signal losers_;
    std::size_t pending_ = 0;
    std::size_t winner_ = none;
    std::coroutine_handle<> cont_;
};

} // namespace detail

// Cancels the await after `timeout`: operation_aborted then reads error::timed_out.
template <class A, class Rep, class Period>
[[nodiscard]] detail::scoped_awaiter<std::decay_t<A>>
with_timeout(A&& awaitable, std::chrono::duration<Rep, Period> timeout) {
    return detail::scoped_awaiter<std::decay_t<A>>(std::forward<A>(awaitable),
                                                   detail::duration_us(timeout), {});
}

// Cancels the await when `token` is cancelled (besides the chain's own signal).
template <class A>
[[nodiscard]] detail::scoped_awaiter<std::decay_t<A>> with_cancellation(A&& awaitable,
                                                                        cancellation_token token) {
    return detail::scoped_awaiter<std::decay_t<A>>(std::forward<A>(awaitable), -1,
                                                   std::move(token));
}

// Runs the tasks concurrently on the awaiting chain's loop; resumes when all are done
// with a tuple of their values (std::monostate for task<void>).
template <class... Ts>
[[nodiscard]] detail::when_all_awaiter<Ts...> when_all(task<Ts>... tasks) {
    return detail::when_all_awaiter<Ts...>(std::move(tasks)...);
}

// Runs the tasks concurrently; when the first finishes, the others are cancelled
// (their pending awaits complete with operation_aborted) and awaited, then this
// resumes with the first one's value at its index in the variant.
template <class... Ts>
[[nodiscard]] detail::when_any_awaiter<Ts...> when_any(task<Ts>... tasks) {
    static_assert(sizeof...(Ts) > 0, "when_any needs at least one task");
    return detail::when_any_awaiter<Ts...>(std::move(tasks)...);
}

} // namespace sluice

#endif // SLUICE_HAS_COROUTINES
