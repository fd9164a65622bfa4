// sluice — the interface every poller implements.
//
// Two operations, in the spirit of Redis's ae_*.c: `set` changes the readiness a
// descriptor is watched for (0 -> mask adds, mask -> 0 removes), `wait` blocks until
// something is ready or the timeout passes and reports (user pointer, events) pairs.
// The user pointer is captured when wait() fills the array, so a handle closed by an
// earlier callback in the same batch is recognised by the loop and skipped.
// Errors and hang-ups are reported as readable|writable: the handle's next syscall
// tells it what happened, exactly as with a level-triggered poll(2).
#pragma once

#include <sluice/platform/socket.hpp>
#include <sluice/util/buffer.hpp>
#include <sluice/util/send_pool.hpp>

#include <climits>
#include <cstdint>
#include <memory>
#include <vector>
#include <time.h>

namespace sluice {

// backend::poll is poll(2) on POSIX and WSAPoll on Windows; select is select() on both
// (see select.hpp for what FD_SETSIZE means on Windows). epoll and kqueue are never
// available on Windows; io_uring only on Linux, and only where the running kernel
// allows it (else the loop falls back to epoll and says why: loop::backend_note()).
enum class backend { automatic, epoll, kqueue, poll, select, io_uring };

inline const char* to_string(backend b) noexcept {
    switch (b) {
    case backend::automatic:
        return "automatic";
    case backend::epoll:
        return "epoll";
    case backend::kqueue:
        return "kqueue";
    case backend::poll:
        return "poll";
    case backend::select:
        return "select";
    case backend::io_uring:
        return "io_uring";
    }
    return "?";
}

namespace detail {

// ev_data: a completion backend received bytes for the handle (receive()): `res` bytes at
// `data`, valid until the next wait, or 0 (end of stream) or -errno (either ends it).
// ev_sent: a completion backend finished a send for the handle (send()): `res` bytes went
// out, or -errno.
enum : unsigned { ev_read = 1u, ev_write = 2u, ev_data = 4u, ev_sent = 8u };

// One region of a send and what keeps its bytes alive: a slice of a pool block, or
// shared bytes (a write of shared_bytes, or one too large for a block).
struct send_piece {
    const unsigned char* data;
    std::size_t size;
    const send_ref* block;      // either this
    const shared_bytes* shared; // or this
};

struct ready_event {
    void* user;
    unsigned events;
    int res = 0;                // ev_data only
    const char* data = nullptr; // ev_data only
};

// The longest single wait handed to the kernel (about 11.6 days). A timer further out
// just costs one more turn: some systems refuse larger timeouts with EINVAL (macOS's
// select: more than 10^8 seconds), and a poller error ends run().
inline constexpr std::int64_t max_wait_us = 1000000LL * 1000000LL;

// A wait timeout in microseconds as the timespec the pollers take: null (wait
// forever) for a negative timeout, else `storage` filled in.
inline timespec* to_timespec(std::int64_t timeout_us, timespec& storage) noexcept {
    if (timeout_us < 0) return nullptr;
    if (timeout_us > max_wait_us) timeout_us = max_wait_us;
    storage.tv_sec = static_cast<time_t>(timeout_us / 1000000);
    storage.tv_nsec = static_cast<long>((timeout_us % 1000000) * 1000);
    return &storage;
}

// The same in whole milliseconds for the pollers that take those (WSAPoll), rounded
// up so that a timer never fires early; -1 waits forever.
inline int timeout_ms_ceil(std::int64_t timeout_us) noexcept {
    if (timeout_us < 0) return -1;
    std::int64_t ms = (timeout_us + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

// The ready entries of a poll()-style array (pollfd or WSAPOLLFD), n of them, into
// `out`. Starts where the last full batch stopped, so no descriptor starves.
template <class PollFd>
int collect_ready(const std::vector<PollFd>& fds, const std::vector<void*>& users, int n,
                  ready_event* out, int capacity, std::size_t& start, unsigned read_bits,
                  unsigned write_bits) noexcept {
    int filled = 0;
    const std::size_t count = fds.size();
    for (std::size_t k = 0; k < count && n > 0 && filled < capacity; ++k) {
        std::size_t i = (start + k) % count;
        unsigned re = static_cast<unsigned short>(fds[i].revents);
        if (!re) continue;
        --n;
        unsigned e = 0;
        if (re & read_bits) e |= ev_read;
        if (re & write_bits) e |= ev_write;
        out[filled++] = {users[i], e};
        if (filled == capacity) start = (i + 1) % count;
    }
    return filled;
}

class poller {
  public:
    virtual ~poller() = default;
    virtual std::error_code set(native_socket fd, unsigned old_mask, unsigned new_mask,
                                void* user) noexcept = 0;
    // timeout_us < 0 blocks without limit. Returns the number of entries written. Every
    // backend reports the same way: an interrupted wait (EINTR) is zero events and no
    // error; any other failure is zero events with `ec` set (left untouched otherwise),
    // and the loop then stops with that error instead of waiting again.
    virtual int wait(std::int64_t timeout_us, ready_event* out, int capacity,
                     std::error_code& ec) noexcept = 0;
    // Completion reads: true when the backend can receive into buffers of its own and hand
    // the bytes out as ev_data events, saving a recv() per read (io_uring's multishot
    // receive into a provided-buffer ring). receive(fd, user, true) starts that for a
    // watched or unwatched descriptor, false stops it; bytes already received when it
    // stops still arrive as ev_data events; one with res <= 0 ends the receive.
    virtual bool receives() const noexcept { return false; }
    virtual void receive(native_socket, void*, bool) noexcept {}
    // Completion writes: true when the backend sends for streams (io_uring's
    // IORING_OP_SEND / SENDMSG). send() queues one send of the pieces, in order, to go
    // with the next submission, and reports it once as an ev_sent event: the bytes the
    // kernel took (maybe fewer: the caller sends the rest), or -errno. The backend holds
    // its own references to the pieces until the kernel is done with them, also when the
    // descriptor closes first (closing() cancels the send; no event comes then). One send
    // per descriptor at a time. False when the submission queue cannot take it now.
    static constexpr std::size_t max_send_pieces = 8;
    virtual bool sends() const noexcept { return false; }
    virtual bool send(native_socket, void*, const send_piece*, std::size_t) noexcept {
        return false;
    }
    // Hands what is queued to the kernel now, without waiting: for a send made while no
    // wait follows soon (outside run(), from a loop embedded in another one).
    virtual void submit() noexcept {}
    // Submits now, and takes the completion of fd's send if it has come (a socket send
    // runs inline at submission): true with `res` set, and no ev_sent follows. Other
    // completions wait for the next wait(). For a burst of writes that would pass a write
    // limit: the kernel takes what it can before the limit is judged. With `cancel`, the
    // send is cancelled first: a send still waiting for room in the socket then ends with
    // -ECANCELED, having sent nothing (for cancelling a write that it carries).
    virtual bool send_now(native_socket, int&, bool /*cancel*/) noexcept { return false; }
    // The descriptor is about to be closed (after set(fd, mask, 0) if it was watched). A
    // completion backend must let go of it now: a request still in flight would hold the
    // socket open, and the peer would not see the close until the loop waits again.
    virtual void closing(native_socket) noexcept {}
    // The socket error the last wait() reported together with `user`'s readiness, for a
    // backend whose events carry one (kqueue: EV_EOF with the error in fflags); {} when
    // none came, and always for the others. Meaningful while that batch is dispatched.
    virtual std::error_code reported_error(const void* /*user*/) const noexcept { return {}; }
    virtual backend kind() const noexcept = 0;
    // The pollable descriptor (epoll/kqueue fd) for embedding into another loop, or -1.
    virtual std::intptr_t native_handle() const noexcept { return -1; }
};

} // namespace detail
} // namespace sluice
