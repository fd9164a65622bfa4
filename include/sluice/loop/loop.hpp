// sluice — the event loop.
//
// One loop per thread. Everything on a loop happens on the thread that runs it; the
// only members that may be called from any thread are post(), poster(), stop() and
// keep_alive(), and those only while the loop exists. A thread that may outlive the loop
// holds a post_handle (from poster()) or a keep_alive() guard instead: both stay safe to
// use, copy and destroy after the loop is gone.
// Completion handlers are never invoked from inside the call that started the
// operation: they run later from the loop, so a handler may start the next operation,
// close the handle or destroy its owner without re-entrancy surprises.
#pragma once

#include <sluice/backend/make_poller.hpp>
#include <sluice/loop/io_object.hpp>
#include <sluice/loop/remote.hpp>
#include <sluice/loop/signals.hpp>
#include <sluice/loop/timer_heap.hpp>
#include <sluice/util/function.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

using io_handler = unique_function<void(std::error_code, std::size_t)>;

namespace detail {

// Something above the handle layer that keeps objects alive by references the loop's
// handles cannot see (a WebSocket endpoint's open connections). When the loop is destroyed
// without shutdown(), it calls on_loop_exit() first so those objects can let go, silently,
// as the loop's own pending handlers are dropped uncalled. One per endpoint, not per
// connection.
class loop_resident {
  public:
    virtual void on_loop_exit() noexcept = 0;
    loop_resident* resident_prev = nullptr;
    loop_resident* resident_next = nullptr;

  protected:
    ~loop_resident() = default;
};

// A completion waiting to be delivered from the loop: the handler and its result.
struct pending_completion {
    io_handler handler;
    std::error_code ec;
    std::size_t bytes;
};

} // namespace detail

class loop {
  public:
    using clock = std::chrono::steady_clock;

    SLUICE_DECL explicit loop(backend b = backend::automatic);

    // Closes every handle and destroys every pending handler WITHOUT invoking it (the
    // objects those handlers refer to may already be gone — asio's rule; call
    // shutdown() first to have them run with operation_aborted). Waits for the work of
    // this loop's in-flight offload() jobs (it may refer to the caller's frame), whose
    // completions are then destroyed here too; does not wait for offload_detached() jobs.
    SLUICE_DECL ~loop();

    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    // Non-empty when the requested backend could not be started, or when the poller failed
    // later (any error other than an interrupted wait, e.g. EBADF for a descriptor closed
    // behind the loop's back): the run that met the error returned, the loop is dead from
    // then on (run(), run_once(), run_for() and poll() return at once) and every operation
    // on its handles fails with this code. Destroy it, after shutdown() if its pending
    // handlers should run with operation_aborted.
    std::error_code status() const noexcept { return status_; }
    backend backend_kind() const noexcept { return poller_ ? poller_->kind() : backend::automatic; }
    const char* backend_name() const noexcept { return to_string(backend_kind()); }
    // Why the loop does not run on the backend it was asked for (io_uring refused by the
    // kernel, say: "io_uring_setup: Operation not permitted (...); using epoll"), or "".
    const std::string& backend_note() const noexcept { return backend_note_; }
    // The epoll/kqueue descriptor, readable when this loop has work: register it in a
    // foreign loop (GUI, game engine) and call poll() when it fires. -1 for poll/select.
    std::intptr_t native_handle() const noexcept { return poller_ ? poller_->native_handle() : -1; }

    // Runs until stop() or until nothing is left that could produce an event.
    // Returns the number of callbacks run.
    std::size_t run() { return drive(mode::until_idle, -1); }
    // Runs what is ready; if nothing was, waits for one batch of events (blocking) and
    // handles it.
    std::size_t run_once() { return drive(mode::once, -1); }
    // Handles whatever is ready now, never blocks: call once per frame from a game loop.
    std::size_t poll() { return drive(mode::nowait, 0); }
    // Runs for at most `budget` (or until stop/idle).
    template <class Rep, class Period>
    std::size_t run_for(std::chrono::duration<Rep, Period> budget) {
        return drive(mode::until_idle,
                     std::chrono::duration_cast<std::chrono::microseconds>(budget).count());
    }

    // Thread-safe. The current run()/run_for() returns after the current batch.
    void stop() noexcept {
        stop_requested_.store(true, std::memory_order_release);
        if (!remote_->wake_pending.exchange(true)) wake_.notify();
    }

    // Thread-safe while the loop exists (calling it on a destroyed loop is a call on a dead
    // object: threads that may outlive the loop post through poster()). Runs fn on the
    // loop thread exactly once, after everything posted before it from the same thread.
    // Never coalesced. On a loop whose backend never started, fn is destroyed unrun.
    void post(unique_function<void()> fn) { remote_->push(std::move(fn)); }

    // Thread-safe while the loop exists: a handle that posts to this loop and may outlive
    // it (see post_handle).
    post_handle poster() const { return post_handle(remote_); }

    // Loop thread only, no lock: run fn after the current batch of callbacks.
    void defer(unique_function<void()> fn) { local_.push_back(std::move(fn)); }

    // Loop thread only. Runs `work` on the thread pool, then `done` on this loop's thread.
    // The loop stays alive (run() does not return) while work is outstanding, and
    // ~loop() waits for `work` to finish (so it may refer to the caller's frame; `done` is
    // then destroyed unrun); shutdown() waits for it and runs `done`. `work` and its
    // captures are destroyed on the pool thread before `done` is queued. On a loop whose
    // backend never started (status()), both are destroyed unrun at once.
    SLUICE_DECL void offload(unique_function<void()> work, unique_function<void()> done);

    // Loop thread only; for the library's own blocking work (name resolution). `work` runs
    // on the thread pool and must own everything it touches (it may outlive the loop);
    // then `done` is posted to the loop through the shared queue. If the loop is gone by
    // then (or never started), `done` is destroyed unrun on the pool thread. ~loop() does
    // not wait for the job, and the job does not keep run() alive by itself: count it
    // with work_started() / work_finished() when it should.
    SLUICE_DECL void offload_detached(unique_function<void()> work, unique_function<void()> done);

    // Loop thread only: a count of pending operations that keep run() from returning
    // although they have no descriptor or timer registered (a name lookup in progress on
    // the pool). Every work_started() is matched by one work_finished(); shutdown() does
    // not wait for them: their owners end them when they are closed.
    void work_started() noexcept { ++outstanding_work_; }
    void work_finished() noexcept { --outstanding_work_; }

    // Loop thread only: destroys `h` after the current batch of callbacks, uncalled. A
    // stopped subscription's handler goes here, so that what it owns (perhaps the object
    // that is stopping it) is never freed inside the call that stopped it.
    void release_later(io_handler&& h) {
        if (h) released_.push_back(std::move(h));
    }
    void release_later(unique_function<void()>&& f) {
        if (f) released_fns_.push_back(std::move(f));
    }

    // An object that keeps run() from returning while it exists (remote.hpp).
    using keep_alive_guard = sluice::keep_alive_guard;
    keep_alive_guard keep_alive() { return keep_alive_guard(remote_); }

    // Delivers `signo` (e.g. SIGINT, SIGTERM) to `handler` on this loop's thread.
    // Signal handlers do not keep run() alive on their own. Windows: only SIGINT (the
    // console's Ctrl-C and Ctrl-Break); other numbers fail with std::errc::not_supported.
    SLUICE_DECL std::error_code on_signal(int signo, unique_function<void(int)> handler);
    void cancel_signal(int signo) {
        if (signals_) signals_->cancel(signo);
    }

    // Structured shutdown: closes listeners, timers and idle handles now; lets streams
    // with queued writes flush for up to `grace`; then closes whatever is left, runs
    // the resulting operation_aborted completions and waits for this loop's offload()
    // jobs. Afterwards the loop holds no handle.
    //
    // Called from one of this loop's handlers, it cannot run there: the turn it would
    // drive is the one in progress, whose handlers and objects are on the stack. It then
    // returns at once, and the current run()/run_once()/run_for()/poll() shuts the loop
    // down when that turn ends, before returning. Called again while shutting down, it
    // does nothing.
    template <class Rep, class Period>
    void shutdown(std::chrono::duration<Rep, Period> grace) {
        const std::int64_t grace_us =
            std::chrono::duration_cast<std::chrono::microseconds>(grace).count();
        if (shutting_down_) return;
        if (running_ > 0) {
            if (!shutdown_deferred_ || grace_us < deferred_grace_us_) deferred_grace_us_ = grace_us;
            shutdown_deferred_ = true;
            return;
        }
        shutdown_now(grace_us);
    }

    bool shutting_down() const noexcept { return shutting_down_; }

  private:
    // The body of shutdown(), run from outside any handler.
    SLUICE_DECL void shutdown_now(std::int64_t grace_us);

  public:
    // See detail::loop_resident (loop thread only).
    void add_resident(detail::loop_resident* r) noexcept {
        r->resident_prev = nullptr;
        r->resident_next = residents_;
        if (residents_) residents_->resident_prev = r;
        residents_ = r;
    }
    void remove_resident(detail::loop_resident* r) noexcept {
        if (r->resident_prev)
            r->resident_prev->resident_next = r->resident_next;
        else if (residents_ == r)
            residents_ = r->resident_next;
        if (r->resident_next) r->resident_next->resident_prev = r->resident_prev;
        r->resident_prev = r->resident_next = nullptr;
    }

    // Streams open on this loop (accepted, connecting or connected). Written by the loop
    // thread only, readable from any thread: a loop group hands new connections to the
    // loop with the fewest.
    std::size_t open_streams() const noexcept {
        return open_streams_.load(std::memory_order_relaxed);
    }
    // Single writer, so a relaxed load and store suffice (no locked instruction).
    void count_stream(bool opened) noexcept {
        std::size_t n = open_streams_.load(std::memory_order_relaxed);
        open_streams_.store(opened ? n + 1 : n - 1, std::memory_order_relaxed);
    }

    // Loop time in microseconds since an arbitrary epoch, updated after every wait.
    std::int64_t now_us() const noexcept { return now_us_; }
    // The current time rounded up to the next microsecond. Deadlines are computed
    // from this and compared with the rounded-down clock, so truncation can only
    // make a timer late, never early.
    static std::int64_t clock_us_ceil() noexcept {
        auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
                .count();
        return (ns + 999) / 1000;
    }
    static std::int64_t clock_us() noexcept {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   clock::now().time_since_epoch())
            .count();
    }

    // ---- used by handle implementations (loop thread only) ----

    void watch(detail::io_object* o, unsigned mask) {
        if (o->closed()) return; // retire() unwatched it for good
        o->wanted_ = static_cast<std::uint8_t>(mask);
        if (!(o->state_ & detail::io_object::dirty_bit) && o->wanted_ != o->registered_) {
            o->state_ |= detail::io_object::dirty_bit;
            dirty_.push_back(o);
        }
    }

    // Completion reads (io_uring): whether the backend receives for streams itself, and
    // turning that on or off for one. See backend.hpp, poller::receives().
    bool receives() const noexcept { return receives_; }
    void receive(detail::io_object* o, bool on) {
        if (o->closed() || static_cast<bool>(o->state_ & detail::io_object::receiving_bit) == on)
            return;
        count_receiving(o, on);
        poller_->receive(o->fd_, o, on);
    }
    // Completion writes (io_uring): whether the backend sends for streams (a stream's
    // bytes then wait in its queue until the kernel has taken them), and the calls a
    // stream makes. See backend.hpp, poller::sends().
    bool sends() const noexcept { return sends_; }
    detail::send_pool& send_pool() noexcept { return send_pool_; }
    // o has bytes for the backend and no send in flight: o->start_send() runs before the
    // next wait (outside run(), at once, and the submission with it: no wait may follow).
    void send_due(detail::io_object* o) {
        if (o->closed() || (o->state_ & (detail::io_object::send_due_bit |
                                         detail::io_object::sending_bit)))
            return;
        o->state_ |= detail::io_object::send_due_bit;
        sends_due_.push_back(o);
        if (running_ == 0) {
            start_sends();
            poller_->submit();
        }
    }
    // From o->start_send(): one send of the pieces; false when the backend cannot take it.
    bool send(detail::io_object* o, const detail::send_piece* pieces, std::size_t n) {
        if (!poller_->send(o->fd_, o, pieces, n)) return false;
        o->state_ |= detail::io_object::sending_bit;
        ++sending_count_;
        return true;
    }
    // Submits o's send now and takes its completion if it came at once (see
    // poller::send_now): true with `res` set.
    bool send_now(detail::io_object* o, int& res, bool cancel = false) {
        if (!(o->state_ & detail::io_object::sending_bit) ||
            !poller_->send_now(o->fd_, res, cancel))
            return false;
        sent_done(o);
        return true;
    }
    // Where the bytes of the read being delivered are: the shared buffer, or a backend's.
    const char* read_data() const noexcept { return read_data_; }
    void set_read_data(const char* p) noexcept { read_data_ = p; }

    // Registers a new object in the live list and takes the loop's reference.
    void adopt(detail::io_object* o) {
        o->add_ref();
        o->state_ |= detail::io_object::linked_bit;
        o->next_ = live_head_;
        if (live_head_) live_head_->prev_ = o;
        live_head_ = o;
    }

    // Called from close_with(): stop watching, close the descriptor, and hand the
    // object to the end-of-iteration release.
    SLUICE_DECL void retire(detail::io_object* o);

    // Removes the descriptor from the poller immediately (before it is closed).
    void unwatch_now(detail::io_object* o) noexcept {
        if (o->registered_ && poller_) {
            --registered_count_;
            poller_->set(o->fd_, o->registered_, 0, o);
            o->registered_ = 0;
        }
        o->wanted_ = 0;
    }

    // Queues handler(ec, bytes) to run from the loop (never inline).
    void complete(io_handler&& h, std::error_code ec, std::size_t bytes = 0) {
        if (h) completions_.push_back({std::move(h), ec, bytes});
    }

    void schedule(detail::timer_node* n, std::int64_t deadline_us) {
        if (n->queued()) timers_.remove(n);
        n->deadline_us = deadline_us;
        n->seq = timer_seq_++;
        timers_.push(n);
    }
    void unschedule(detail::timer_node* n) noexcept { timers_.remove(n); }

    // The per-loop read buffer streams use while they have no buffer of their own:
    // an idle connection owns no read memory.
    char* shared_buffer() {
        if (!shared_buffer_) shared_buffer_.reset(new char[shared_buffer_size]);
        return shared_buffer_.get();
    }
    static constexpr std::size_t shared_buffer_size = 64 * 1024;

    // A handle closes a descriptor of its own (not through retire()).
    void closing(native_socket fd) noexcept {
        if (poller_) poller_->closing(fd);
    }

    std::error_code poller_set(detail::io_object* o, unsigned mask) {
        return poller_->set(o->fd_, o->registered_, mask, o);
    }

    // The error the poller reported with o's readiness in the batch being dispatched
    // ({} if none; see poller::reported_error).
    std::error_code reported_error(const detail::io_object* o) const noexcept {
        return poller_ ? poller_->reported_error(o) : std::error_code();
    }

  private:
    enum class mode { until_idle, once, nowait };

    void* wake_marker() noexcept { return &wake_; }

    void sent_done(detail::io_object* o) noexcept {
        o->state_ &= static_cast<std::uint8_t>(~detail::io_object::sending_bit);
        --sending_count_;
    }

    // Before each wait: the sends that became due. Stops where the backend is full; the
    // rest go next turn (the wait does not block while some are left).
    SLUICE_DECL void start_sends();

    void count_receiving(detail::io_object* o, bool on) noexcept {
        if (on) {
            o->state_ |= detail::io_object::receiving_bit;
            ++receiving_count_;
        } else {
            o->state_ &= static_cast<std::uint8_t>(~detail::io_object::receiving_bit);
            --receiving_count_;
        }
    }

    bool alive() const noexcept {
        return registered_count_ > 0 || receiving_count_ > 0 || sending_count_ > 0 ||
               !sends_due_.empty() || !dirty_.empty() || !timers_.empty() ||
               pending_offloads_ > 0 || outstanding_work_ > 0 || has_local_work() ||
               remote_->nonempty.load(std::memory_order_acquire) ||
               remote_->external_refs.load(std::memory_order_acquire) > 0;
    }
    // Destroys queued handlers without running them. Destroying one may close a handle
    // it owned, which queues more; those are taken in the next round.
    SLUICE_DECL void discard_local_work();

    bool has_local_work() const noexcept {
        return !completions_.empty() || !local_.empty() || !released_.empty() ||
               !released_fns_.empty();
    }

    SLUICE_DECL std::size_t drive(mode m, std::int64_t budget_us);

    // One turn: due timers, queued completions, interest changes, wait, dispatch,
    // posted work, signals, timers again, completions again, frees.
    // One turn; `once` (run_once()): no blocking wait once a callback has run.
    SLUICE_DECL void iterate(std::int64_t max_wait_us, bool once = false);

    SLUICE_DECL void apply_interest();

    SLUICE_DECL void run_timers();

    SLUICE_DECL void run_local();

    SLUICE_DECL void run_remote();

    void run_signals() {
        if (signals_) handlers_run_ += signals_->run();
    }

    SLUICE_DECL void release_closed();

  public:
    void forget_zombie(detail::io_object* o) noexcept {
        o->state_ &= static_cast<std::uint8_t>(~detail::io_object::zombie_bit);
        if (o->prev_)
            o->prev_->next_ = o->next_;
        else
            zombies_ = o->next_;
        if (o->next_) o->next_->prev_ = o->prev_;
        o->prev_ = o->next_ = nullptr;
    }

  private:
    template <class F>
    void for_each_live(F&& f) {
        std::vector<detail::io_object*> all;
        for (detail::io_object* o = live_head_; o; o = o->next_) all.push_back(o);
        for (detail::io_object* o : all)
            if (!o->closed()) f(o);
    }

    static constexpr int max_events = 256;

    // Before the poller: a send in flight holds blocks until the poller lets it go.
    detail::send_pool send_pool_;
    std::unique_ptr<detail::poller> poller_;
    std::string backend_note_;
    bool receives_ = false;
    bool sends_ = false;
    std::size_t receiving_count_ = 0;
    std::size_t sending_count_ = 0;
    std::vector<detail::io_object*> sends_due_;
    const char* read_data_ = nullptr;
    std::error_code status_;
    platform::wakeup_fd wake_;
    std::shared_ptr<detail::remote_queue> remote_;
    detail::timer_heap timers_;
    std::uint64_t timer_seq_ = 0;
    std::int64_t now_us_ = 0;
    detail::io_object* live_head_ = nullptr;
    detail::io_object* zombies_ = nullptr;
    detail::loop_resident* residents_ = nullptr;
    std::vector<detail::io_object*> dirty_;
    std::vector<detail::io_object*> closing_;
    // A deque, not a vector: a burst of completions (cancelling a million timers) grows
    // it without moving every queued handler on each doubling (cancel: 650 -> 365 ns).
    std::deque<detail::pending_completion> completions_, running_completions_;
    std::vector<unique_function<void()>> local_, running_local_, running_remote_;
    std::vector<io_handler> released_, running_released_;
    std::vector<unique_function<void()>> released_fns_, running_released_fns_;
    std::unique_ptr<detail::loop_signals> signals_; // on the first on_signal()
    std::size_t registered_count_ = 0;
    std::size_t pending_offloads_ = 0; // offload() jobs whose done has not run yet
    std::size_t outstanding_work_ = 0; // work_started() minus work_finished()
    std::atomic<int> offloads_in_flight_{0};
    std::size_t handlers_run_ = 0;
    std::atomic<std::size_t> open_streams_{0};
    std::atomic<bool> stop_requested_{false};
    bool shutting_down_ = false;
    bool shutdown_deferred_ = false;     // shutdown() was called from a handler
    std::int64_t deferred_grace_us_ = 0; // ... with this grace
    int running_ = 0;                    // drive() / shutdown_now() frames on the stack
    std::unique_ptr<char[]> shared_buffer_;
    detail::ready_event events_[max_events];
};

namespace detail {
// The last reference to a closed object may outlive the loop's: it then leaves the
// zombie list here (a loop destroyed first has already emptied that list).
inline io_object::~io_object() {
    if ((state_ & zombie_bit) && loop_) loop_->forget_zombie(this);
}
} // namespace detail

} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/loop/impl/loop.ipp>
#endif
