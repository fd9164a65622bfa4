// sluice — out-of-line bodies of sluice/loop/loop.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/loop/loop.hpp>
#include <sluice/loop/thread_pool.hpp>

#include <algorithm>
#include <thread>

namespace sluice {

SLUICE_DECL loop::loop(backend b) : remote_(std::make_shared<detail::remote_queue>()) {
    poller_ = detail::make_poller(b, status_, backend_note_);
    receives_ = poller_ && poller_->receives();
    sends_ = poller_ && poller_->sends();
    if (!status_) status_ = wake_.open();
    if (!status_) status_ = poller_->set(wake_.read_end(), 0, detail::ev_read, wake_marker());
    if (!status_) remote_->wake = &wake_;
    now_us_ = clock_us();
}

SLUICE_DECL loop::~loop() {
    while (residents_) {
        detail::loop_resident* r = residents_;
        remove_resident(r);
        r->on_loop_exit();
    }
    {
        for_each_live(
            [](detail::io_object* o) { o->close_with(make_error_code(error::operation_aborted)); });
        discard_local_work();
        while (offloads_in_flight_.load(std::memory_order_acquire) > 0)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        std::vector<unique_function<void()>> orphans;
        {
            std::lock_guard<std::mutex> lock(remote_->mutex);
            remote_->wake = nullptr;
            orphans.swap(remote_->items);
        }
        orphans.clear();
        discard_local_work();
        release_closed();
    }
    signals_.reset(); // before the wakeup descriptor it points at
    // Wrappers that outlive the loop see loop_ == nullptr (error::loop_gone).
    while (zombies_) {
        detail::io_object* o = zombies_;
        forget_zombie(o);
        o->loop_ = nullptr;
    }
}

SLUICE_DECL void loop::offload(unique_function<void()> work, unique_function<void()> done) {
    if (!remote_->wake) return; // written by this thread only: no lock needed to read it
    ++pending_offloads_;
    offloads_in_flight_.fetch_add(1, std::memory_order_relaxed);
    detail::thread_pool::instance().submit(
        [this, work = std::move(work), done = std::move(done)]() mutable {
            {
                unique_function<void()> w = std::move(work);
                w();
            }
            // Accepted: ~loop closes the queue only after in-flight jobs are done.
            remote_->push([this, done = std::move(done)]() mutable {
                --pending_offloads_;
                done();
            });
            // Last touch of the loop: its destructor waits for this to reach zero.
            offloads_in_flight_.fetch_sub(1, std::memory_order_release);
        });
}

SLUICE_DECL void loop::offload_detached(unique_function<void()> work,
                                        unique_function<void()> done) {
    detail::thread_pool::instance().submit(
        [q = remote_, work = std::move(work), done = std::move(done)]() mutable {
            {
                unique_function<void()> w = std::move(work);
                w();
            }
            // Refused once the loop is gone: `done` stays in this job and is destroyed
            // with it, on this thread.
            q->push(std::move(done));
        });
}

SLUICE_DECL std::error_code loop::on_signal(int signo, unique_function<void(int)> handler) {
    if (!signals_) signals_.reset(new detail::loop_signals());
    return signals_->subscribe(signo, std::move(handler), &wake_);
}

SLUICE_DECL void loop::shutdown_now(std::int64_t grace_us) {
    shutting_down_ = true;
    ++running_;
    const std::int64_t deadline = clock_us() + grace_us;
    for_each_live([](detail::io_object* o) { o->begin_shutdown(); });
    // A dead poller reports no readiness: nothing can flush, so no grace.
    while (!status_ && live_head_ && clock_us() < deadline) iterate(deadline - clock_us());
    for_each_live(
        [](detail::io_object* o) { o->close_with(make_error_code(error::operation_aborted)); });
    // Handlers may react to their abort by starting new operations; those fail
    // at once, so a few rounds drain everything.
    for (int round = 0; round < 8 && has_local_work(); ++round) run_local();
    while (pending_offloads_ > 0) iterate(-1);
    for (int round = 0; round < 8 && (has_local_work() || remote_->nonempty.load()); ++round) {
        run_remote();
        run_local();
    }
    release_closed();
    --running_;
    shutting_down_ = false;
}

SLUICE_DECL void loop::retire(detail::io_object* o) {
    if (o->state_ & detail::io_object::receiving_bit) count_receiving(o, false);
    if (o->state_ & detail::io_object::sending_bit) sent_done(o);
    o->state_ |= detail::io_object::closed_bit;
    unwatch_now(o);
    if (o->fd_ != invalid_socket) {
        if (poller_) poller_->closing(o->fd_);
        platform::close_socket(o->fd_);
        o->fd_ = invalid_socket;
    }
    if (o->state_ & detail::io_object::linked_bit) {
        o->state_ &= static_cast<std::uint8_t>(~detail::io_object::linked_bit);
        if (o->prev_)
            o->prev_->next_ = o->next_;
        else
            live_head_ = o->next_;
        if (o->next_) o->next_->prev_ = o->prev_;
        o->prev_ = o->next_ = nullptr;
        closing_.push_back(o);
    }
}

SLUICE_DECL void loop::discard_local_work() {
    for (int round = 0; round < 16 && has_local_work(); ++round) {
        std::deque<detail::pending_completion> c;
        std::vector<unique_function<void()>> l;
        std::vector<io_handler> r;
        std::vector<unique_function<void()>> rf;
        c.swap(completions_);
        l.swap(local_);
        r.swap(released_);
        rf.swap(released_fns_);
    }
}

SLUICE_DECL std::size_t loop::drive(mode m, std::int64_t budget_us) {
    if (status_) return 0;
    handlers_run_ = 0;
    const std::int64_t deadline = budget_us >= 0 ? clock_us() + budget_us : -1;
    ++running_;
    for (;;) {
        std::int64_t timeout = -1;
        if (m == mode::nowait)
            timeout = 0;
        else if (deadline >= 0)
            timeout = deadline - clock_us() > 0 ? deadline - clock_us() : 0;
        iterate(timeout, m == mode::once);
        if (status_) break;            // the poller failed: the loop is dead
        if (shutdown_deferred_) break; // a handler asked for shutdown()
        if (stop_requested_.exchange(false, std::memory_order_acq_rel)) break;
        if (m != mode::until_idle || !alive()) break;
        if (deadline >= 0 && clock_us() >= deadline) break;
    }
    --running_;
    // Sends that became due in the last turn's callbacks: a loop driven from another
    // one (poll() when native_handle() is readable) may not turn again until they are out.
    if (running_ == 0 && !sends_due_.empty() && !status_) {
        start_sends();
        poller_->submit();
    }
    if (shutdown_deferred_ && running_ == 0) {
        shutdown_deferred_ = false;
        shutdown_now(deferred_grace_us_);
    }
    return handlers_run_;
}

SLUICE_DECL void loop::iterate(std::int64_t max_wait_us, bool once) {
    now_us_ = clock_us();
    const std::size_t ran_before = handlers_run_;
    run_timers();
    run_local();
    apply_interest();
    if (!sends_due_.empty()) start_sends();
    std::int64_t timeout = max_wait_us;
    // run_once(): callbacks that just ran may have been what the caller waits for (in a
    // `while (!done)` loop): look for events, but do not block this turn.
    if ((once && handlers_run_ != ran_before) || has_local_work() || !sends_due_.empty() ||
        remote_->nonempty.load(std::memory_order_acquire) ||
        stop_requested_.load(std::memory_order_acquire))
        timeout = 0;
    else if (!timers_.empty()) {
        std::int64_t until = timers_.top()->deadline_us - clock_us();
        if (until < 0) until = 0;
        if (timeout < 0 || until < timeout) timeout = until;
    } else if (timeout < 0 && !alive())
        timeout = 0;
    int n = 0;
    if (!status_) {
        std::error_code ec;
        n = poller_->wait(timeout, events_, max_events, ec);
        if (ec) {
            // Waiting again would fail again at once: a busy spin. The loop dies with
            // the error instead (status()); this turn still runs what is due.
            status_ = ec;
            n = 0;
        }
    } else if (timeout != 0) {
        // Only shutdown() turns a dead loop, waiting for offload() completions that
        // arrive through the queue: nap instead of spinning.
        std::this_thread::sleep_for(
            std::chrono::microseconds(timeout < 0 || timeout > 1000 ? 1000 : timeout));
    }
    now_us_ = clock_us();
    bool woken = false;
    for (int i = 0; i < n; ++i) {
        if (events_[i].user == wake_marker()) {
            woken = true;
            continue;
        }
        auto* o = static_cast<detail::io_object*>(events_[i].user);
        if (o->closed()) continue;
        ++handlers_run_;
        if (events_[i].events & detail::ev_sent) {
            sent_done(o);
            o->on_sent(events_[i].res);
            continue;
        }
        if (events_[i].events & detail::ev_data) {
            // The end of stream or an error ends the backend's receive on its own.
            if (events_[i].res <= 0 && (o->state_ & detail::io_object::receiving_bit))
                count_receiving(o, false);
            o->on_data(events_[i].res, events_[i].data);
            continue;
        }
        o->on_ready(events_[i].events & o->registered_);
    }
    if (woken) {
        // Drain before clearing the flag: clearing first would let a poster see the
        // flag down, notify, and have that notification eaten by this drain while
        // its own flag stays up — every later post would then skip the wakeup.
        wake_.drain();
        remote_->wake_pending.store(false, std::memory_order_seq_cst);
        run_signals();
    }
    run_remote();
    run_timers();
    run_local();
    release_closed();
}

SLUICE_DECL void loop::start_sends() {
    std::size_t done = 0;
    for (; done < sends_due_.size(); ++done) {
        detail::io_object* o = sends_due_[done];
        if (o->closed()) continue; // retire() cleared its bit
        o->state_ &= static_cast<std::uint8_t>(~detail::io_object::send_due_bit);
        if (!o->start_send()) {
            o->state_ |= detail::io_object::send_due_bit;
            break;
        }
    }
    sends_due_.erase(sends_due_.begin(), sends_due_.begin() + static_cast<std::ptrdiff_t>(done));
}

SLUICE_DECL void loop::apply_interest() {
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
        detail::io_object* o = dirty_[i];
        o->state_ &= static_cast<std::uint8_t>(~detail::io_object::dirty_bit);
        if (o->closed() || o->wanted_ == o->registered_) continue;
        std::error_code ec = poller_set(o, o->wanted_);
        if (ec) {
            // The poller refused the descriptor (e.g. select and FD_SETSIZE): the
            // handle fails with that error rather than waiting forever.
            o->close_with(ec);
            continue;
        }
        if (!o->registered_ && o->wanted_) ++registered_count_;
        if (o->registered_ && !o->wanted_) --registered_count_;
        o->registered_ = o->wanted_;
    }
    dirty_.clear();
}

SLUICE_DECL void loop::run_timers() {
    while (!timers_.empty() && timers_.top()->deadline_us <= now_us_) {
        detail::timer_node* n = timers_.top();
        timers_.remove(n);
        ++handlers_run_;
        n->on_timer();
    }
}

SLUICE_DECL void loop::run_local() {
    // Only what was queued before this call runs now; what the handlers queue runs
    // in the next round, so a handler that always re-queues cannot starve I/O.
    if (!completions_.empty()) {
        running_completions_.swap(completions_);
        for (auto& c : running_completions_) {
            ++handlers_run_;
            c.handler(c.ec, c.bytes);
        }
        running_completions_.clear();
    }
    if (!local_.empty()) {
        running_local_.swap(local_);
        for (auto& fn : running_local_) {
            ++handlers_run_;
            fn();
        }
        running_local_.clear();
    }
    if (!released_.empty() || !released_fns_.empty()) {
        // Destroying them may release more: those go in the next round.
        running_released_.swap(released_);
        running_released_fns_.swap(released_fns_);
        running_released_.clear();
        running_released_fns_.clear();
    }
}

SLUICE_DECL void loop::run_remote() {
    if (!remote_->nonempty.load(std::memory_order_acquire)) return;
    {
        std::lock_guard<std::mutex> lock(remote_->mutex);
        running_remote_.swap(remote_->items);
        remote_->nonempty.store(false, std::memory_order_relaxed);
    }
    for (auto& fn : running_remote_) {
        ++handlers_run_;
        fn();
    }
    running_remote_.clear();
}

SLUICE_DECL void loop::release_closed() {
    // Releasing may run destructors that close further objects; loop until quiet.
    while (!closing_.empty()) {
        // An interest change queued before the close must not outlive the object
        // (a connect handler that closes and deletes its stream leaves one): drop
        // closed objects from the queue before any of them can be freed.
        if (!dirty_.empty()) {
            dirty_.erase(std::remove_if(dirty_.begin(), dirty_.end(),
                                        [](detail::io_object* o) { return o->closed(); }),
                         dirty_.end());
        }
        if (!sends_due_.empty()) {
            sends_due_.erase(std::remove_if(sends_due_.begin(), sends_due_.end(),
                                            [](detail::io_object* o) { return o->closed(); }),
                             sends_due_.end());
        }
        std::vector<detail::io_object*> batch;
        batch.swap(closing_);
        for (detail::io_object* o : batch) {
            if (o->use_count() > 1) { // someone else still refers to it
                o->state_ |= detail::io_object::zombie_bit;
                o->prev_ = nullptr;
                o->next_ = zombies_;
                if (zombies_) zombies_->prev_ = o;
                zombies_ = o;
            }
            o->drop_ref(); // the loop's reference
        }
    }
}

} // namespace sluice
