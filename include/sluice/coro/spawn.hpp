// sluice — starting tasks: spawn() (detached, with a completion callback) and
// run_until_complete() / sync_wait() (blocking, for main() and tests).
//
// A spawned task starts from the loop (posted, so spawn() may be called from any
// thread) and its completion runs with the task's value on the thread of the loop the
// chain runs on when it ends: the spawning loop, unless the chain hop()ed away and did
// not come back. The spawned frame is the root of the chain and holds what its frames
// share (detail::chain_state): destroying the loop with the task still suspended (or not
// yet started) destroys the whole chain without running the completion; loop::shutdown()
// instead resumes it with operation_aborted and lets it finish.
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/task.hpp>

#include <memory>
#include <mutex>
#include <optional>

namespace sluice {
namespace detail {

struct detached_promise;

struct detached {
    using promise_type = detached_promise;
    std::coroutine_handle<detached_promise> h;
};

struct detached_promise final : promise_base, frame_root {
    chain_state chain;                   // every frame of the chain points here
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
    p.chain.root = &p;
    p.chain.lp = &l;
    p.ctx.chain = &p.chain;
    if (token) {
        p.keep = token.state();
        p.ctx.cancel = p.keep.get();
        p.ctx.pinned = true; // the source belongs to this loop's thread
    }
    l.post(detail::starter(d.h));
}

template <class T>
void spawn(loop& l, task<T> t) {
    spawn(l, std::move(t), [](auto&&...) {});
}

namespace detail {

// Where run_until_complete's chain leaves its value. The completion may run on another
// thread (the chain hop()ed away) and after run_until_complete returned (its loop ran out
// of work meanwhile) and the loop was destroyed: it stops the loop only while
// run_until_complete still waits, under the lock that run_until_complete takes to leave.
template <class V>
class sync_slot {
  public:
    explicit sync_slot(sluice::loop& l) noexcept : lp_(&l) {}
    void set(V v) {
        std::lock_guard<std::mutex> lock(m_);
        value_.emplace(std::move(v));
        if (lp_) lp_->stop();
    }
    bool ready() {
        std::lock_guard<std::mutex> lock(m_);
        return value_.has_value();
    }
    std::optional<V> leave() {
        std::lock_guard<std::mutex> lock(m_);
        lp_ = nullptr;
        return std::move(value_);
    }

  private:
    std::mutex m_;
    sluice::loop* lp_;
    std::optional<V> value_;
};

} // namespace detail

// Runs the loop until `t` finishes; returns its value, or nothing when the loop ran out
// of work first. The chain then stays suspended where it is: owned by this loop (and
// destroyed with it), or by the loop it hop()ed to, where it may still finish (its value
// is then dropped). For task<void>: true when it finished.
template <class T>
auto run_until_complete(loop& l, task<T> t, cancellation_token token = {}) {
    using V = std::conditional_t<std::is_void_v<T>, bool, T>;
    auto slot = std::make_shared<detail::sync_slot<V>>(l);
    if constexpr (std::is_void_v<T>)
        spawn(
            l, std::move(t), [slot] { slot->set(true); }, std::move(token));
    else
        spawn(
            l, std::move(t), [slot](T v) { slot->set(std::move(v)); }, std::move(token));
    while (!slot->ready())
        if (l.run() == 0 && !slot->ready()) break;
    std::optional<V> out = slot->leave();
    if constexpr (std::is_void_v<T>)
        return out.has_value();
    else
        return out;
}

template <class T>
auto sync_wait(loop& l, task<T> t, cancellation_token token = {}) {
    return run_until_complete(l, std::move(t), std::move(token));
}

} // namespace sluice

#endif // SLUICE_HAS_COROUTINES
