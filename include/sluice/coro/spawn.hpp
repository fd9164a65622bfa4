// sluice — starting tasks: spawn() (detached, with a completion callback) and
// run_until_complete() / sync_wait() (blocking, for main() and tests).
//
// A spawned task starts from the loop (posted, so spawn() may be called from any
// thread) and its completion runs on the loop thread with the task's value. The
// spawned frame is the root of the chain: destroying the loop with the task still
// suspended destroys the whole chain without running the completion; loop::shutdown()
// instead resumes it with operation_aborted and lets it finish.
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/task.hpp>

#include <memory>
#include <optional>

namespace sluice {
namespace detail {

struct detached_promise;

struct detached {
    using promise_type = detached_promise;
    std::coroutine_handle<detached_promise> h;
};

struct detached_promise final : promise_base, frame_root {
    std::shared_ptr<cancel_signal> keep; // the token that cancels the whole chain
    detached get_return_object() noexcept {
        return {std::coroutine_handle<detached_promise>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
    void destroy_chain() noexcept override {
        std::coroutine_handle<detached_promise>::from_promise(*this).destroy();
    }
};

template <class T, class F>
detached run_detached(task<T> t, F f) {
    if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
        f();
    } else {
        f(co_await std::move(t));
    }
}

// Posted to the loop to start the frame; destroying it unrun destroys the frame.
class starter {
  public:
    explicit starter(std::coroutine_handle<> h) noexcept : h_(h) {}
    starter(starter&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    starter(const starter&) = delete;
    ~starter() {
        if (h_) h_.destroy();
    }
    void operator()() { std::exchange(h_, {}).resume(); }

  private:
    std::coroutine_handle<> h_;
};

} // namespace detail

// Runs `t` on `l`, detached; completion(value) (or completion() for task<void>) runs
// on the loop thread when it finishes. `token` cancels every pending await of it.
template <class T, class F>
void spawn(loop& l, task<T> t, F&& completion, cancellation_token token = {}) {
    detail::detached d =
        detail::run_detached<T, std::decay_t<F>>(std::move(t), std::forward<F>(completion));
    detail::detached_promise& p = d.h.promise();
    p.ctx.root = &p;
    p.ctx.lp = &l;
    if (token) {
        p.keep = token.state();
        p.ctx.cancel = p.keep.get();
    }
    l.post(detail::starter(d.h));
}

template <class T>
void spawn(loop& l, task<T> t) {
    spawn(l, std::move(t), [](auto&&...) {});
}

// Runs the loop until `t` finishes; returns its value, or nothing when the loop ran
// out of work first (the task can then never finish; its frame stays owned by the
// loop and is destroyed with it). For task<void>: true when it finished.
template <class T>
auto run_until_complete(loop& l, task<T> t, cancellation_token token = {}) {
    if constexpr (std::is_void_v<T>) {
        auto done = std::make_shared<bool>(false);
        spawn(
            l, std::move(t),
            [done, lp = &l] {
                *done = true;
                lp->stop();
            },
            std::move(token));
        while (!*done)
            if (l.run() == 0 && !*done) break;
        return *done;
    } else {
        auto out = std::make_shared<std::optional<T>>();
        spawn(
            l, std::move(t),
            [out, lp = &l](T v) {
                out->emplace(std::move(v));
                lp->stop();
            },
            std::move(token));
        while (!out->has_value())
            if (l.run() == 0 && !out->has_value()) break;
        return std::move(*out);
    }
}

template <class T>
auto sync_wait(loop& l, task<T> t, cancellation_token token = {}) {
    return run_until_complete(l, std::move(t), std::move(token));
}

} // namespace sluice

#endif // SLUICE_HAS_COROUTINES
