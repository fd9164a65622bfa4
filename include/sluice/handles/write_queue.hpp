// sluice — a stream's queue of writes: a ring of entries over one array that grows by
// doubling and is reused from its start whenever it empties.
//
// Why not std::deque: on a completion backend (io_uring) every write passes through the
// queue, and a deque that is pushed at the back and popped at the front walks through
// its blocks, freeing one and allocating the next every few writes: an allocation per
// few operations in steady state. This ring allocates only when more writes are queued
// at once than ever before on the stream.
#pragma once

#include <sluice/loop/loop.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace sluice::detail {

struct write_entry {
    shared_bytes bytes;        // the bytes, when not in a pool block: shared or too large
    send_ref block;            // or the pool block holding them
    const unsigned char* base; // the write's first byte (in `bytes` or `block`)
    std::size_t length;        // its size
    std::size_t offset;        // bytes of it already handed to the kernel
    io_handler done;
    std::size_t request_size;  // reported to `done`: the size of the whole write() call
    std::uint64_t id;          // for cancelling this write alone (the coroutine layer)
    bool started;              // some of its bytes reached the kernel (or may have)

    const unsigned char* data() const noexcept { return base + offset; }
    std::size_t left() const noexcept { return length - offset; }
};

class write_queue {
  public:
    class iterator {
      public:
        iterator(write_queue* q, std::size_t i) noexcept : q_(q), i_(i) {}
        write_entry& operator*() const noexcept { return q_->at(i_); }
        write_entry* operator->() const noexcept { return &q_->at(i_); }
        iterator& operator++() noexcept {
            ++i_;
            return *this;
        }
        bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }
        bool operator!=(const iterator& o) const noexcept { return i_ != o.i_; }
        bool last() const noexcept { return i_ + 1 == q_->count_; }

      private:
        write_queue* q_;
        std::size_t i_; // from the front
    };

    bool empty() const noexcept { return count_ == 0; }
    std::size_t size() const noexcept { return count_; }
    write_entry& front() noexcept { return at(0); }
    write_entry& back() noexcept { return at(count_ - 1); }
    iterator begin() noexcept { return {this, 0}; }
    iterator end() noexcept { return {this, count_}; }

    void push_back(write_entry&& e) {
        if (count_ == cap_) grow();
        at(count_) = std::move(e);
        ++count_;
    }
    void pop_front() noexcept {
        at(0) = write_entry{}; // its bytes and handler go now
        head_ = (head_ + 1) & (cap_ - 1);
        if (--count_ == 0) head_ = 0;
    }
    void pop_back() noexcept {
        at(count_ - 1) = write_entry{};
        if (--count_ == 0) head_ = 0;
    }
    void clear() noexcept {
        while (count_) pop_back();
    }

  private:
    write_entry& at(std::size_t i) noexcept { return slots_[(head_ + i) & (cap_ - 1)]; }

    void grow() {
        const std::size_t cap = cap_ ? 2 * cap_ : 4;
        std::unique_ptr<write_entry[]> slots(new write_entry[cap]());
        for (std::size_t i = 0; i < count_; ++i) slots[i] = std::move(at(i));
        slots_ = std::move(slots);
        cap_ = cap;
        head_ = 0;
    }

    std::unique_ptr<write_entry[]> slots_;
    std::size_t cap_ = 0; // a power of two
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

} // namespace sluice::detail
