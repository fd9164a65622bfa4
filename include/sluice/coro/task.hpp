// sluice — task<T>: a lazy coroutine with symmetric transfer.
//
// A task does nothing until it is awaited (or spawned); the awaiting coroutine is
// suspended and control transfers straight into the task, and back at its end, with
// no intermediate stack frame, so a long chain of awaits that complete synchronously
// does not grow the stack.
//
// A chain is the spawned frame (its root) and every task awaited below it. What the
// chain shares lives once, in the root frame, and every frame points at it: the root and
// the loop the chain runs on, so hop() moves the whole chain at once and any frame then
// sees the new loop. What is per frame is copied from the awaiter: the cancellation
// scope its awaits listen to (with_timeout, with_cancellation and when_any open nested
// ones) and whether the frame is pinned to its loop (see hop() in io.hpp).
//
// Ownership, the rule that keeps shutdown leak-free (docs/guide/lifetimes.md, rules 3, 4
// and 8): a suspended chain is owned by the completion handler of the operation it waits
// for, which the loop or a handle holds. That handler resumes the chain exactly once. If
// it is destroyed without being run (only ~loop() does that), it destroys the chain's root
// frame, and with it every frame of the chain (and their handles). A coroutine awaiting
// outside any spawned chain has no root the library knows of: its own owner destroys it.
//
// Exceptions: sluice never throws, and awaits report errors as codes. Under
// -fno-exceptions a body cannot throw. With exceptions, an exception escaping a task
// is stored and rethrown from the co_await that awaited it; one escaping a spawned
// task calls std::terminate() (like std::thread).
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES

#include <sluice/coro/result.hpp>
#include <sluice/coro/token.hpp>
#include <sluice/loop/loop.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace sluice {

template <class T = void>
class task;

namespace detail {

// Owns a chain of frames; destroy_chain() destroys all of them.
class frame_root {
  public:
    virtual void destroy_chain() noexcept = 0;

  protected:
    ~frame_root() = default;
};

template <class D>
std::int64_t duration_us(D d) noexcept {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    if (std::chrono::duration_cast<D>(std::chrono::microseconds(us)) < d) ++us; // round up
    return us < 0 ? 0 : us;
}

// The part of a chain's context that every frame shares, owned by the root frame.
struct chain_state {
    frame_root* root = nullptr;
    // The loop whose thread runs the chain; hop() changes it for every frame at once.
    sluice::loop* lp = nullptr;
};

// A frame's context: the shared part of its chain, and its own cancellation scope.
struct coro_context {
    chain_state* chain = nullptr;    // null outside a spawned chain
    cancel_signal* cancel = nullptr; // the innermost scope this frame's awaits listen to
    // Inside a scope bound to the loop it started on (a when_all/when_any child, whose
    // siblings run on that loop; with_timeout, whose timer is in that loop; a cancellation
    // source, which belongs to one thread): the chain cannot move, hop() refuses.
    bool pinned = false;

    sluice::loop* lp() const noexcept { return chain ? chain->lp : nullptr; }
    frame_root* root() const noexcept { return chain ? chain->root : nullptr; }
};

struct promise_base {
    coro_context ctx;
    std::coroutine_handle<> continuation;
    // 0: running inside the awaiter's start; 1: the awaiter suspended; 2: finished.
    // A task that finishes before its awaiter suspends lets the awaiter go on without
    // a resume call, so synchronous completions never nest on the stack (even where
    // the compiler does not turn symmetric transfer into a tail call, e.g. under ASan).
    std::atomic<std::uint8_t> handoff{0};
    // Set by when_all / when_any: called at the end instead of resuming `continuation`;
    // returns the coroutine to transfer to.
    std::coroutine_handle<> (*notify)(void*) noexcept = nullptr;
    void* notify_arg = nullptr;
};

template <class P>
coro_context context_of(std::coroutine_handle<P> h) noexcept {
    if constexpr (std::is_base_of_v<promise_base, P>)
        return h.promise().ctx;
    else
        return {};
}

struct task_final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
        promise_base& p = h.promise();
        if (p.notify) return p.notify(p.notify_arg);
        if (p.handoff.exchange(2, std::memory_order_acq_rel) == 1 && p.continuation)
            return p.continuation;
        return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
};

struct task_promise_common : promise_base {
    std::suspend_always initial_suspend() const noexcept { return {}; }
    task_final_awaiter final_suspend() const noexcept { return {}; }
#if SLUICE_HAS_EXCEPTIONS
    std::exception_ptr exception;
    void unhandled_exception() noexcept { exception = std::current_exception(); }
    void rethrow_if_any() {
        if (exception) std::rethrow_exception(std::exchange(exception, nullptr));
    }
#else
    void unhandled_exception() noexcept { std::abort(); }
    void rethrow_if_any() noexcept {}
#endif
};

template <class T>
struct task_promise : task_promise_common {
    std::optional<T> value;
    task<T> get_return_object() noexcept;
    template <class U = T>
    void return_value(U&& v) {
        value.emplace(std::forward<U>(v));
    }
    T take() {
        rethrow_if_any();
        return std::move(*value);
    }
};

template <>
struct task_promise<void> : task_promise_common {
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() { rethrow_if_any(); }
};

} // namespace detail

template <class T>
class [[nodiscard]] task {
  public:
    using promise_type = detail::task_promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;
    using value_type = T;

    task() noexcept = default;
    explicit task(handle_type h) noexcept : h_(h) {}
    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { reset(); }

    bool valid() const noexcept { return static_cast<bool>(h_); }
    bool done() const noexcept { return h_ && h_.done(); }
    handle_type handle() const noexcept { return h_; }

    // Awaiting transfers control into the task and back when it finishes.
    struct awaiter {
        handle_type h;
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> parent) {
            return start(parent, detail::context_of(parent));
        }
        // Runs the task until it finishes or suspends; false when it finished.
        bool start(std::coroutine_handle<> cont, const detail::coro_context& ctx) {
            promise_type& p = h.promise();
            p.ctx = ctx;
            p.continuation = cont;
            p.handoff.store(0, std::memory_order_relaxed);
            h.resume();
            return p.handoff.exchange(1, std::memory_order_acq_rel) != 2;
        }
        T await_resume() { return h.promise().take(); }
        sluice::loop* hint_loop() const noexcept { return nullptr; }
    };
    awaiter operator co_await() && noexcept { return awaiter{h_}; }

  private:
    void reset() noexcept {
        if (h_) std::exchange(h_, {}).destroy();
    }
    handle_type h_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>(std::coroutine_handle<task_promise<T>>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>(std::coroutine_handle<task_promise<void>>::from_promise(*this));
}

// The base of every I/O awaiter. The awaiter lives in the suspended frame; the
// completion handler it gives the core is a resumer holding only a pointer to it (so
// the handler fits the inline buffer and never allocates). The awaiter and its
// resumer point at each other: if the frame goes first (a chain destroyed elsewhere)
// the resumer is disarmed; if the resumer is destroyed unrun, it destroys the chain.
//
// Exactly once: a resumer runs at most once (it forgets the awaiter as it runs), and an
// awaiter has one live resumer per step it started. The awaiter listens to its scope's
// signal only while a step is pending (finish() detaches before resuming), so a cancel
// that arrives after the completion was queued finds the handle with nothing to cancel
// and changes nothing: the queued result is delivered. An operation of several steps
// (read_exact) that starts its next step after its scope was cancelled must check
// cancel_requested() and finish with operation_aborted instead.
class op_base : public cancel_slot {
  public:
    op_base() noexcept = default;
    op_base(const op_base&) noexcept : cancel_slot() {} // only before the start
    op_base& operator=(const op_base&) = delete;
    ~op_base() {
        if (link_) *link_ = nullptr;
    }

    void on_cancel() override {}
    sluice::loop* hint_loop() const noexcept { return nullptr; }

    op_base** link_ = nullptr;
    std::coroutine_handle<> cont_;
    frame_root* root_ = nullptr;
    // The signal bound to (it lives in an enclosing frame or the root, so it outlives this).
    cancel_signal* scope_ = nullptr;
    std::error_code ec_;
    std::size_t n_ = 0;

  protected:
    // False when the context is already cancelled: the op must not start.
    bool bind(std::coroutine_handle<> cont, const coro_context& ctx, bool cancellable = true) {
        cont_ = cont;
        root_ = ctx.root();
        if (ctx.cancel && cancellable) {
            if (ctx.cancel->cancelled()) return false;
            scope_ = ctx.cancel;
            attach(ctx.cancel);
        }
        return true;
    }
    void finish() {
        detach();
        std::exchange(cont_, {}).resume();
    }
    // True once the scope this awaiter listened to was cancelled.
    bool cancel_requested() const noexcept { return scope_ && scope_->cancelled(); }

  public:
    // The resumer was destroyed unrun (~loop): the chain goes with it. Without a root (an
    // await outside any spawned chain) the awaiting coroutine belongs to someone the
    // library does not know, who destroys it; destroying the innermost frame here would
    // have it destroyed twice, so it is left suspended.
    void abandon() noexcept {
        detach();
        cont_ = {};
        if (root_) root_->destroy_chain();
    }
};

template <class Op>
class resumer {
  public:
    explicit resumer(op_base* o) noexcept : op_(o) { o->link_ = &op_; }
    resumer(resumer&& r) noexcept : op_(std::exchange(r.op_, nullptr)) {
        if (op_) op_->link_ = &op_;
    }
    resumer& operator=(resumer&&) = delete;
    resumer(const resumer&) = delete;
    ~resumer() {
        if (op_) {
            op_base* o = std::exchange(op_, nullptr);
            o->link_ = nullptr;
            o->abandon();
        }
    }
    template <class... A>
    void operator()(A&&... a) {
        op_base* o = std::exchange(op_, nullptr);
        if (!o) return;
        o->link_ = nullptr;
        static_cast<Op*>(o)->on_complete(std::forward<A>(a)...);
    }

  private:
    op_base* op_;
};

// A sluice awaiter exposes start(cont, ctx); a task exposes operator co_await.
template <class A>
decltype(auto) as_awaiter(A& a) {
    if constexpr (requires { a.start(std::coroutine_handle<>{}, coro_context{}); })
        return (a);
    else
        return std::move(a).operator co_await();
}

// CRTP helper for I/O awaiters: Derived provides precheck(ctx), initiate(),
// on_complete(...), optionally on_cancel(), and await_resume().
template <class Derived>
class io_op : public op_base {
  public:
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start(h, context_of(h));
    }
    // False when the operation completed without suspending (it could not start).
    bool start(std::coroutine_handle<> cont, const coro_context& ctx) {
        Derived& d = static_cast<Derived&>(*this);
        if (std::error_code ec = d.precheck(ctx)) {
            ec_ = ec;
            return false;
        }
        if (!bind(cont, ctx, Derived::cancellable)) {
            ec_ = make_error_code(error::operation_aborted);
            return false;
        }
        d.initiate(ctx);
        return true;
    }
    static constexpr bool cancellable = true;
};

} // namespace detail
} // namespace sluice

#endif // SLUICE_HAS_COROUTINES
