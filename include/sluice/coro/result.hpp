// sluice — what an awaited operation returns: an error code and a value, never an
// exception. `auto [ec, n] = co_await read_some(s, buf);` or `if (auto r = ...; r)`.
#pragma once

#include <sluice/config.hpp>

#include <system_error>
#include <utility>

namespace sluice {

template <class T>
struct result {
    std::error_code ec;
    T value{};

    explicit operator bool() const noexcept { return !ec; } // true on success
    bool ok() const noexcept { return !ec; }
    T& operator*() & noexcept { return value; }
    T&& operator*() && noexcept { return std::move(value); }
    T* operator->() noexcept { return &value; }
    const T* operator->() const noexcept { return &value; }
};

} // namespace sluice
