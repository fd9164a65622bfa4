// sluice — what every handle implementation (stream, listener, UDP, timer) is.
//
// Lifetime: an io_object is shared by the user's handle wrapper and the loop, counted
// in `refs` (loop thread only, so not atomic). Closing unlinks it from the live list
// but the loop keeps its reference until the end of the current iteration, so
// readiness events already collected for it in this batch find a closed object (and
// skip it) instead of freed memory. If the wrapper still exists then, the object
// becomes a zombie: the loop keeps it (and its loop_ pointer stays valid) until the
// wrapper lets go or the loop is destroyed, which sets loop_ to null. So a wrapper
// never sees a dangling loop pointer.
#pragma once

#include <sluice/platform/socket.hpp>

#include <cstdint>

namespace sluice {
class loop;
namespace detail {

class io_object {
  public:
    explicit io_object(loop& l) noexcept : loop_(&l) {}
    io_object(const io_object&) = delete;
    io_object& operator=(const io_object&) = delete;
    virtual ~io_object() = default;

    // Readiness reported by the poller for fd_ (ev_read / ev_write bits).
    virtual void on_ready(unsigned) {}
    // Close the descriptor and complete every pending operation with `reason`.
    virtual void close_with(std::error_code reason) = 0;
    // Loop shutdown: close now, or once queued writes are flushed.
    virtual void begin_shutdown() { close_with(make_error_code(error::operation_aborted)); }

    bool closed() const noexcept { return state_ & closed_bit; }
    loop* owner() const noexcept { return loop_; }

    loop* loop_;
    io_object* prev_ = nullptr; // the loop's live list
    io_object* next_ = nullptr;
    native_socket fd_ = invalid_socket;
    std::uint32_t refs_ = 1;
    std::uint8_t registered_ = 0; // mask the poller currently watches
    std::uint8_t wanted_ = 0;     // mask the handle wants; applied lazily before each wait
    std::uint8_t state_ = 0;
    std::uint8_t flags_ = 0; // free for the handle type

    static constexpr std::uint8_t closed_bit = 1;
    static constexpr std::uint8_t dirty_bit = 2;
    static constexpr std::uint8_t linked_bit = 4;
    static constexpr std::uint8_t zombie_bit = 8; // closed, loop done with it, wrapper alive
};

} // namespace detail
} // namespace sluice
