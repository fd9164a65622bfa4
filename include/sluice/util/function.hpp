// sluice — move-only type-erased callable with a small inline buffer.
//
// Every pending operation stores its completion in one of these. std::function is
// copyable (so it cannot hold move-only captures such as a coroutine's result slot)
// and is 32 bytes on libstdc++; this one is 24 bytes and keeps any callable of up to
// 16 bytes inline, so a coroutine resumption ([this]) or a typical [this, ptr] lambda
// never allocates.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace sluice {

template <class Signature>
class unique_function;

template <class R, class... Args>
class unique_function<R(Args...)> {
    static constexpr std::size_t inline_size = 2 * sizeof(void*);

    struct ops {
        R (*invoke)(void* self, Args... args);
        void (*relocate)(void* dst, void* src) noexcept; // move-construct dst, destroy src
        void (*destroy)(void* self) noexcept;
    };

    template <class F>
    static constexpr bool
        fits_inline = sizeof(F) <= inline_size &&
                      alignof(F) <= alignof(void*) && std::is_nothrow_move_constructible<F>::value;

    template <class F>
    static const ops* inline_ops() {
        static constexpr ops table{[](void* self, Args... args) -> R {
                                       return (*static_cast<F*>(self))(std::forward<Args>(args)...);
                                   },
                                   [](void* dst, void* src) noexcept {
                                       ::new (dst) F(std::move(*static_cast<F*>(src)));
                                       static_cast<F*>(src)->~F();
                                   },
                                   [](void* self) noexcept { static_cast<F*>(self)->~F(); }};
        return &table;
    }

    template <class F>
    static const ops* heap_ops() {
        static constexpr ops table{
            [](void* self, Args... args) -> R {
                return (**static_cast<F**>(self))(std::forward<Args>(args)...);
            },
            [](void* dst, void* src) noexcept { *static_cast<F**>(dst) = *static_cast<F**>(src); },
            [](void* self) noexcept { delete *static_cast<F**>(self); }};
        return &table;
    }

  public:
    unique_function() noexcept = default;
    unique_function(std::nullptr_t) noexcept {}

    template <class F, class D = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same<D, unique_function>::value &&
                                       std::is_invocable_r<R, D&, Args...>::value>>
    unique_function(F&& f) { // NOLINT: implicit by design, like std::function
        if constexpr (fits_inline<D>) {
            ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
            ops_ = inline_ops<D>();
        } else {
            *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
            ops_ = heap_ops<D>();
        }
    }

    unique_function(unique_function&& other) noexcept : ops_(other.ops_) {
        if (ops_) {
            ops_->relocate(storage_, other.storage_);
            other.ops_ = nullptr;
        }
    }

    unique_function& operator=(unique_function&& other) noexcept {
        if (this != &other) {
            reset();
            if (other.ops_) {
                other.ops_->relocate(storage_, other.storage_);
                ops_ = other.ops_;
                other.ops_ = nullptr;
            }
        }
        return *this;
    }

    unique_function& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }

    unique_function(const unique_function&) = delete;
    unique_function& operator=(const unique_function&) = delete;
    ~unique_function() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    R operator()(Args... args) { return ops_->invoke(storage_, std::forward<Args>(args)...); }

    void reset() noexcept {
        if (ops_) {
            ops_->destroy(storage_);
            ops_ = nullptr;
        }
    }

  private:
    alignas(void*) unsigned char storage_[inline_size];
    const ops* ops_ = nullptr;
};

} // namespace sluice
