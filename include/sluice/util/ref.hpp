// sluice — the one counted reference type for objects that the loop and the user share
// (handle implementations, HTTP sessions and their responses, WebSocket connections,
// dials, fetches). See docs/guide/lifetimes.md for the rules it serves.
//
// Counting is not atomic: these objects live on one loop thread, and a reference is
// taken or dropped only there. Objects shared across threads use std::shared_ptr.
//
// A handler that refers to such an object holds a ref<T>, never a raw pointer, so the
// object outlives every handler that can still run. The only raw pointers allowed are
// links that the pointee clears when it goes (and the pointer a ref<T> wraps).
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace sluice::detail {

// Base of every counted object. T is the most derived type deleted at zero (CRTP, so no
// virtual destructor is needed unless T has one of its own).
template <class T>
class ref_counted {
  public:
    ref_counted(const ref_counted&) = delete;
    ref_counted& operator=(const ref_counted&) = delete;

    void add_ref() noexcept { ++refs_; }
    void drop_ref() noexcept {
        if (--refs_ == 0) delete static_cast<T*>(this);
    }
    std::uint32_t use_count() const noexcept { return refs_; }

  protected:
    ref_counted() noexcept = default;
    ~ref_counted() = default;

  private:
    std::uint32_t refs_ = 0;
};

// A counted reference: copies add one, moves transfer it, destruction drops it.
template <class T>
class ref {
  public:
    ref() noexcept = default;
    ref(std::nullptr_t) noexcept {}
    explicit ref(T* p) noexcept : p_(p) {
        if (p_) p_->add_ref();
    }
    template <class U, class = std::enable_if_t<std::is_convertible<U*, T*>::value>>
    ref(const ref<U>& o) noexcept : ref(static_cast<T*>(o.get())) {}
    template <class U, class = std::enable_if_t<std::is_convertible<U*, T*>::value>>
    ref(ref<U>&& o) noexcept : p_(o.release()) {}
    ref(const ref& o) noexcept : ref(o.p_) {}
    ref(ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    ref& operator=(ref o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~ref() { reset(); }

    // Drops the reference now. The object may be deleted inside this call.
    void reset() noexcept {
        if (T* p = std::exchange(p_, nullptr)) p->drop_ref();
    }
    // Gives up the pointer without dropping the count (the caller now owes one drop_ref).
    T* release() noexcept { return std::exchange(p_, nullptr); }
    // Takes over a count the caller already owns (the inverse of release()).
    static ref adopt(T* p) noexcept {
        ref r;
        r.p_ = p;
        return r;
    }

    T* get() const noexcept { return p_; }
    T* operator->() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

    friend bool operator==(const ref& a, const ref& b) noexcept { return a.p_ == b.p_; }
    friend bool operator!=(const ref& a, const ref& b) noexcept { return a.p_ != b.p_; }
    friend bool operator==(const ref& a, const T* b) noexcept { return a.p_ == b; }
    friend bool operator!=(const ref& a, const T* b) noexcept { return a.p_ != b; }

  private:
    T* p_ = nullptr;
};

// make_ref<T>(args...): a new object with one reference, held by the result.
template <class T, class... Args>
ref<T> make_ref(Args&&... args) {
    return ref<T>(new T(std::forward<Args>(args)...));
}

} // namespace sluice::detail
