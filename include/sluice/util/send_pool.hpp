// sluice — a loop's pool of send blocks, for a completion backend (io_uring) whose writes
// wait in the stream's queue until the kernel has sent them.
//
// Why a pool: on io_uring every write is handed to the kernel with the next enter, so its
// bytes must be copied out of the caller's buffer first. A fresh allocation per write
// would be an allocation per operation; instead, writes are copied into slices of 16 KiB
// blocks that the loop recycles. Slices of many streams share a block (an echo of 64
// bytes over 10,000 connections needs 40 blocks, not 10,000), and a stream's consecutive
// writes usually land side by side, so one send covers them. A block goes back to the
// free list when its last slice is released, by the stream once the bytes are sent or
// by the backend's own hold when a stream closed with a send in flight. An idle
// connection owns no block; the loop keeps a few free ones (keep_free) and frees the rest.
//
// Loop thread only: the counts are plain integers.
#pragma once

#include <sluice/util/ref.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace sluice::detail {

class send_pool;

struct send_block {
    send_pool* pool;
    std::size_t refs;    // slices handed out, plus one while it is the pool's current block
    std::size_t used;    // bytes handed out from the start
    send_block* next;    // the free list
    unsigned char* bytes() noexcept { return reinterpret_cast<unsigned char*>(this + 1); }
    // What ref<> counts with (util/ref.hpp): the last reference gives the block back to
    // its pool instead of deleting it.
    void add_ref() noexcept { ++refs; }
    inline void drop_ref() noexcept;
};

// A counted reference to a block: what a queued write, or a send in flight, holds.
using send_ref = ref<send_block>;

class send_pool {
  public:
    static constexpr std::size_t block_bytes = 16 * 1024; // a slice is at most this
    static constexpr std::size_t keep_free = 64;          // free blocks kept for reuse

    send_pool() = default;
    send_pool(const send_pool&) = delete;
    send_pool& operator=(const send_pool&) = delete;
    // Every slice is released before (streams close first, the backend's holds go with
    // the poller, which the loop destroys before its pool).
    ~send_pool() {
        if (current_) drop_current();
        while (free_) std::free(std::exchange(free_, free_->next));
    }

    // Room for n bytes (n <= block_bytes): where to copy them, and the reference that
    // keeps them. In the current block when they fit, else in a recycled or new one.
    unsigned char* take(std::size_t n, send_ref& ref) {
        // Every slice of the current block came back (an echo: one write sent before the
        // next): it starts over, and the same bytes stay in cache.
        if (current_ && current_->refs == 1) current_->used = 0;
        if (!current_ || block_bytes - current_->used < n) {
            if (current_) drop_current();
            current_ = fresh();
        }
        unsigned char* p = current_->bytes() + current_->used;
        current_->used += n;
        ref = send_ref(current_);
        return p;
    }

    // Blocks allocated from the heap since the pool was made (tests: steady state reuses).
    std::size_t allocations() const noexcept { return allocations_; }

    // The last reference to a block went: back to the free list, or to the heap.
    void recycle(send_block* b) noexcept {
        if (free_count_ >= keep_free) return std::free(b);
        b->next = free_;
        free_ = b;
        ++free_count_;
    }

  private:
    send_block* fresh() {
        send_block* b = free_;
        if (b) {
            free_ = b->next;
            --free_count_;
        } else {
            void* mem = std::malloc(sizeof(send_block) + block_bytes);
            if (!mem) std::abort(); // out of memory: the library has no exception to throw
            b = ::new (mem) send_block{this, 0, 0, nullptr};
            ++allocations_;
        }
        b->refs = 1; // the pool's, while it is current
        b->used = 0;
        return b;
    }
    void drop_current() noexcept { std::exchange(current_, nullptr)->drop_ref(); }

    send_block* current_ = nullptr;
    send_block* free_ = nullptr;
    std::size_t free_count_ = 0;
    std::size_t allocations_ = 0;
};

inline void send_block::drop_ref() noexcept {
    if (--refs == 0) pool->recycle(this);
}

} // namespace sluice::detail
