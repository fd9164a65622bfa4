// sluice — what every handle implementation (stream, listener, UDP, timer) is.
//
// Lifetime (docs/guide/lifetimes.md): an io_object is counted (detail::ref): the user's
// handle wrapper holds one reference, the loop another while the object is open, and
// any handler or internal job that refers to it holds its own. Closing unlinks it from
// the live list, but the loop keeps its reference until the end of the current
// iteration, so readiness events already collected for it in this batch find a closed
// object (and skip it) instead of freed memory. If anyone else still holds it then, the
// loop drops its reference and remembers the object on its zombie list (not counted):
// the object's destructor takes itself off that list, and a loop destroyed first sets
// the object's loop_ to null. So nobody ever sees a dangling loop pointer.
#pragma once

#include <sluice/platform/socket.hpp>
#include <sluice/util/ref.hpp>

#include <cstdint>

namespace sluice {
class loop;
namespace detail {

class io_object : public ref_counted<io_object> {
  public:
    explicit io_object(loop& l) noexcept : loop_(&l) {}
    inline virtual ~io_object(); // leaves the loop's zombie list (defined in loop.hpp)

    // Readiness reported by the poller for fd_ (ev_read / ev_write bits).
    virtual void on_ready(unsigned) {}
    // Bytes a completion backend received for fd_ (loop::receive): `res` bytes at `data`,
    // valid during the call; 0 at end of stream, -errno on an error (the receive is over).
    virtual void on_data(int, const char*) {}
    // Completion writes (loop::send_due): hand the next send to the loop (loop::send);
    // false when the backend cannot take it now (tried again before the next wait).
    virtual bool start_send() { return true; }
    // That send ended: `res` bytes went out, or -errno.
    virtual void on_sent(int) {}
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
    std::uint8_t registered_ = 0; // mask the poller currently watches
    std::uint8_t wanted_ = 0;     // mask the handle wants; applied lazily before each wait
    std::uint8_t state_ = 0;
    std::uint8_t flags_ = 0; // free for the handle type

    static constexpr std::uint8_t closed_bit = 1;
    static constexpr std::uint8_t dirty_bit = 2;
    static constexpr std::uint8_t linked_bit = 4;
    static constexpr std::uint8_t zombie_bit = 8; // closed, loop done with it, still referenced
    static constexpr std::uint8_t receiving_bit = 16; // the backend receives for it
    static constexpr std::uint8_t sending_bit = 32;   // a backend send is in flight
    static constexpr std::uint8_t send_due_bit = 64;  // listed to start one before the wait
};

} // namespace detail
} // namespace sluice
