// sluice — timers. Deadlines are taken from a fresh clock reading when the timer is
// started, never from the loop's cached time, so a timer cannot fire early (libuv's
// timers can, by up to a millisecond: libuv#4773). A cancelled or closed timer
// completes its pending wait with operation_aborted; a fired one with success.
// A repeating timer keeps its cadence from the original deadline and, when it falls
// behind by more than one period, skips ahead rather than firing a burst.
#pragma once

#include <sluice/handles/handle.hpp>

namespace sluice {
namespace detail {

class timer_impl final : public io_object, public timer_node {
  public:
    using io_object::io_object;

    void on_timer() override {
        if (interval_us_ > 0) {
            std::int64_t next = deadline_us + interval_us_;
            if (next <= loop_->now_us()) next = loop_->now_us() + interval_us_;
            loop_->schedule(this, next);
            io_handler h = std::move(handler_);
            h({}, 0);
            if (!handler_ && queued()) handler_ = std::move(h);
        } else {
            io_handler h = std::move(handler_);
            h({}, 0);
        }
    }

    bool cancel(std::error_code reason) {
        if (!queued()) return false;
        loop_->unschedule(this);
        loop_->complete(std::move(handler_), reason, 0);
        return true;
    }

    void close_with(std::error_code reason) override {
        cancel(reason);
        loop_->retire(this);
    }

    io_handler handler_;
    std::int64_t interval_us_ = 0;
};

} // namespace detail

class timer : public detail::basic_handle<detail::timer_impl> {
  public:
    timer() noexcept = default;
    explicit timer(loop& l) : basic_handle(new detail::timer_impl(l)) { l.adopt(impl_.get()); }

    // One shot: handler(error_code) after `after`; a pending wait is cancelled first.
    template <class Rep, class Period, class H>
    void start(std::chrono::duration<Rep, Period> after, H&& handler) {
        arm(to_us(after), 0, detail::ec_only(std::forward<H>(handler)));
    }
    // Repeating: first after `after`, then every `every`, until cancel() or close().
    template <class R1, class P1, class R2, class P2, class H>
    void start(std::chrono::duration<R1, P1> after, std::chrono::duration<R2, P2> every,
               H&& handler) {
        std::int64_t period = to_us(every);
        arm(to_us(after), period > 0 ? period : 1, detail::ec_only(std::forward<H>(handler)));
    }
    // At an absolute time: timers started for the same time_point have equal deadlines
    // and fire in the order they were started.
    template <class H>
    void start_at(loop::clock::time_point when, H&& handler) {
        arm_at(to_us(when.time_since_epoch()), 0, detail::ec_only(std::forward<H>(handler)));
    }

    // The raw form the coroutine layer uses (no adaptation, no allocation).
    void async_wait_us(std::int64_t after_us, io_handler handler) {
        arm(after_us, 0, std::move(handler));
    }

    // Returns true when a pending wait was cancelled (its handler gets operation_aborted).
    bool cancel() {
        return impl_ && impl_->loop_ && impl_->cancel(make_error_code(error::operation_aborted));
    }
    bool pending() const noexcept { return impl_ && impl_->queued(); }

  private:
    template <class D>
    static std::int64_t to_us(D d) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
        // Round up so a sub-microsecond request never fires before it is due.
        if (std::chrono::duration_cast<D>(std::chrono::microseconds(us)) < d) ++us;
        return us < 0 ? 0 : us;
    }

    void arm(std::int64_t after_us, std::int64_t interval_us, io_handler h) {
        arm_at(loop::clock_us_ceil() + after_us, interval_us, std::move(h));
    }
    void arm_at(std::int64_t deadline_us, std::int64_t interval_us, io_handler h) {
        if (auto ec = unusable()) return fail(std::move(h), ec);
        impl_->cancel(make_error_code(error::operation_aborted));
        impl_->handler_ = std::move(h);
        impl_->interval_us_ = interval_us;
        impl_->loop_->schedule(impl_.get(), deadline_us);
    }
};

} // namespace sluice
