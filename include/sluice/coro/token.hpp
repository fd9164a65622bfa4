// sluice — cancellation sources and tokens (C++17; the coroutine layer builds on them).
//
// A cancellation_source is a one-shot flag with listeners; its tokens are cheap
// copies that observe it. cancel() runs the listeners at once, on the calling thread,
// and each listener only *requests* cancellation: a pending operation then completes
// from its loop with error::operation_aborted, exactly once. Sources, tokens and
// registrations belong to one loop thread (to cancel from another thread, post() the
// cancel() to the loop). Registering costs no allocation: listeners are intrusive.
#pragma once

#include <sluice/config.hpp>
#include <sluice/util/function.hpp>

#include <memory>
#include <utility>

namespace sluice {
namespace detail {

class cancel_signal;

// One listener on a cancel_signal. Detaches itself when destroyed.
class cancel_slot {
  public:
    cancel_slot() noexcept = default;
    // Copies and moves never carry the registration.
    cancel_slot(const cancel_slot&) noexcept {}
    cancel_slot& operator=(const cancel_slot&) noexcept { return *this; }

    virtual void on_cancel() = 0;
    inline void attach(cancel_signal* s) noexcept;
    inline void detach() noexcept;
    bool attached() const noexcept { return sig_ != nullptr; }

  protected:
    ~cancel_slot() { detach(); }

  private:
    friend class cancel_signal;
    cancel_signal* sig_ = nullptr;
    cancel_slot* prev_ = nullptr;
    cancel_slot* next_ = nullptr;
};

class cancel_signal {
  public:
    cancel_signal() noexcept = default;
    cancel_signal(const cancel_signal&) = delete;
    cancel_signal& operator=(const cancel_signal&) = delete;
    ~cancel_signal() {
        while (head_) head_->detach();
    }

    bool cancelled() const noexcept { return cancelled_; }
    // Sets the flag and notifies every listener once (each is detached first, so a
    // listener may attach or detach others freely).
    void emit() {
        if (cancelled_) return;
        cancelled_ = true;
        while (head_) {
            cancel_slot* s = head_;
            s->detach();
            s->on_cancel();
        }
    }

  private:
    friend class cancel_slot;
    bool cancelled_ = false;
    cancel_slot* head_ = nullptr;
};

inline void cancel_slot::attach(cancel_signal* s) noexcept {
    detach();
    sig_ = s;
    prev_ = nullptr;
    next_ = s->head_;
    if (next_) next_->prev_ = this;
    s->head_ = this;
}

inline void cancel_slot::detach() noexcept {
    if (!sig_) return;
    if (prev_)
        prev_->next_ = next_;
    else
        sig_->head_ = next_;
    if (next_) next_->prev_ = prev_;
    sig_ = nullptr;
    prev_ = next_ = nullptr;
}

// Forwards one signal to another (a scope nested in a cancellable scope).
class signal_link final : public cancel_slot {
  public:
    explicit signal_link(cancel_signal* target = nullptr) noexcept : target_(target) {}
    void set_target(cancel_signal* t) noexcept { target_ = t; }
    void on_cancel() override {
        if (target_) target_->emit();
    }

  private:
    cancel_signal* target_;
};

} // namespace detail

class cancellation_source;

// Observes a source. A default-constructed token can never be cancelled.
class cancellation_token {
  public:
    cancellation_token() noexcept = default;
    bool can_be_cancelled() const noexcept { return s_ != nullptr; }
    bool is_cancelled() const noexcept { return s_ && s_->cancelled(); }
    explicit operator bool() const noexcept { return can_be_cancelled(); }

    // For the layers above.
    detail::cancel_signal* signal() const noexcept { return s_.get(); }
    const std::shared_ptr<detail::cancel_signal>& state() const noexcept { return s_; }

  private:
    friend class cancellation_source;
    explicit cancellation_token(std::shared_ptr<detail::cancel_signal> s) noexcept
        : s_(std::move(s)) {}
    std::shared_ptr<detail::cancel_signal> s_;
};

class cancellation_source {
  public:
    cancellation_source() : s_(std::make_shared<detail::cancel_signal>()) {}
    cancellation_token token() const { return cancellation_token(s_); }
    // One-shot: later calls do nothing.
    void cancel() { s_->emit(); }
    bool is_cancelled() const noexcept { return s_->cancelled(); }

  private:
    std::shared_ptr<detail::cancel_signal> s_;
};

// Callback-style listener: fn() runs (once, on cancel()) while this object lives; at
// once from the constructor if the token is already cancelled.
class cancellation_registration final : private detail::cancel_slot {
  public:
    cancellation_registration(const cancellation_token& t, unique_function<void()> fn)
        : keep_(t.state()), fn_(std::move(fn)) {
        if (!keep_) return;
        if (keep_->cancelled())
            on_cancel();
        else
            attach(keep_.get());
    }
    cancellation_registration(const cancellation_registration&) = delete;
    cancellation_registration& operator=(const cancellation_registration&) = delete;
    ~cancellation_registration() { detach(); }

  private:
    void on_cancel() override {
        if (fn_) {
            unique_function<void()> f = std::move(fn_);
            f();
        }
    }
    std::shared_ptr<detail::cancel_signal> keep_;
    unique_function<void()> fn_;
};

} // namespace sluice
