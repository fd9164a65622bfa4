// sluice — the part of a loop other threads may reach: posted work and its wakeup
// (detail::remote_queue), post_handle to post from anywhere, and keep_alive_guard. All
// three hold the queue by a shared pointer, so whoever outlives the loop finds a closed
// queue instead of freed memory (docs/guide/loop.md, "Work from other threads").
#pragma once

#include <sluice/platform/socket.hpp>
#include <sluice/util/function.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace sluice {

class loop;

namespace detail {

// The part of a loop other threads may reach: posted work, the wakeup and the count of
// keep_alive() guards. Shared (post_handle, keep_alive_guard, detached pool jobs) so that
// whoever outlives the loop finds a closed queue instead of freed memory.
struct remote_queue {
    std::mutex mutex;
    std::vector<unique_function<void()>> items;
    std::atomic<bool> nonempty{false};
    std::atomic<bool> wake_pending{false};
    // keep_alive() guards alive: run() does not return while this is non-zero.
    std::atomic<std::size_t> external_refs{0};
    // Null until the loop has started and once it is gone. Written under `mutex` by the
    // loop's thread only; the loop's wakeup descriptor stays open while this is set.
    const platform::wakeup_fd* wake = nullptr;

    // Queues fn and wakes the loop. False when the loop is gone (or never started): fn is
    // then left untouched in the caller's hands, to be destroyed there, outside the lock.
    bool push(unique_function<void()>&& fn) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!wake) return false;
        items.push_back(std::move(fn));
        nonempty.store(true, std::memory_order_release);
        if (!wake_pending.exchange(true, std::memory_order_acq_rel)) wake->notify();
        return true;
    }
    // Wakes the loop without queueing anything, so that it looks again at whether it has
    // work left (the last keep_alive() guard went). Nothing happens once it is gone.
    void poke() {
        std::lock_guard<std::mutex> lock(mutex);
        if (wake && !wake_pending.exchange(true, std::memory_order_acq_rel)) wake->notify();
    }
};

} // namespace detail

// A copyable, thread-safe way to post to a loop that may be destroyed while the handle
// lives (a worker thread, a pool job, another loop). Get one with loop::poster().
class post_handle {
  public:
    // An empty handle: post() returns false.
    post_handle() noexcept = default;

    // Queues fn to run on the loop's thread exactly once, after everything posted before
    // it from the same thread, and returns true. Once the loop is gone (or when it never
    // started: loop::status()), returns false and fn is destroyed unrun here, on the
    // calling thread, before post() returns. A function queued while the loop lived but
    // not run before ~loop is destroyed unrun by ~loop, on the loop's thread.
    bool post(unique_function<void()> fn) const { return q_ && q_->push(std::move(fn)); }

  private:
    friend class sluice::loop;
    explicit post_handle(std::shared_ptr<detail::remote_queue> q) noexcept : q_(std::move(q)) {}
    std::shared_ptr<detail::remote_queue> q_;
};

// An object that keeps run() from returning while it exists (e.g. while another
// thread will post work). Created while the loop exists; moved, reset and destroyed
// on any thread, before or after the loop is gone (it holds the loop's shared state,
// not the loop).
class keep_alive_guard {
  public:
    keep_alive_guard() noexcept = default; // holds nothing
    explicit keep_alive_guard(std::shared_ptr<detail::remote_queue> q) : q_(std::move(q)) {
        q_->external_refs.fetch_add(1, std::memory_order_relaxed);
    }
    keep_alive_guard(keep_alive_guard&& o) noexcept = default; // leaves `o` empty
    keep_alive_guard& operator=(keep_alive_guard&& o) noexcept {
        if (this != &o) {
            reset();
            q_ = std::move(o.q_);
        }
        return *this;
    }
    keep_alive_guard(const keep_alive_guard&) = delete;
    keep_alive_guard& operator=(const keep_alive_guard&) = delete;
    ~keep_alive_guard() { reset(); }
    // Lets go now; the last guard wakes the loop so that run() may return.
    void reset() {
        if (std::shared_ptr<detail::remote_queue> q = std::move(q_))
            if (q->external_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) q->poke();
    }

  private:
    std::shared_ptr<detail::remote_queue> q_;
};

} // namespace sluice
