// sluice — byte buffers used by the I/O layers.
//
// const_buffer / mutable_buffer are plain (pointer, size) views. shared_bytes is an
// immutable, reference-counted byte block: a message queued on many connections
// (a broadcast) is stored once, and each write queue only holds a reference.
#pragma once

#include <sluice/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace sluice {

struct const_buffer {
    const void* data = nullptr;
    std::size_t size = 0;
    const_buffer() = default;
    const_buffer(const void* d, std::size_t n) : data(d), size(n) {}
    const_buffer(std::string_view s) : data(s.data()), size(s.size()) {} // NOLINT
};

struct mutable_buffer {
    void* data = nullptr;
    std::size_t size = 0;
    mutable_buffer() = default;
    mutable_buffer(void* d, std::size_t n) : data(d), size(n) {}
};

// One allocation holds the count, the size and the bytes. The count is atomic
// because a broadcast may be queued on loops running on different threads.
class shared_bytes {
    struct block {
        std::atomic<std::size_t> refs;
        std::size_t size;
        unsigned char* bytes() { return reinterpret_cast<unsigned char*>(this + 1); }
    };

  public:
    shared_bytes() = default;
    explicit shared_bytes(const_buffer src) : shared_bytes(src.data, src.size) {}
    shared_bytes(const void* data, std::size_t size) {
        void* mem = std::malloc(sizeof(block) + (size ? size : 1));
        if (!mem) std::abort(); // out of memory: the library has no exception to throw
        b_ = ::new (mem) block{{1}, size};
        if (size) std::memcpy(b_->bytes(), data, size);
    }
    shared_bytes(const shared_bytes& o) noexcept : b_(o.b_) {
        if (b_) b_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    shared_bytes(shared_bytes&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
    shared_bytes& operator=(shared_bytes o) noexcept {
        std::swap(b_, o.b_);
        return *this;
    }
    ~shared_bytes() {
        if (b_ && b_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            b_->~block();
            std::free(b_);
        }
    }
    const unsigned char* data() const noexcept { return b_ ? b_->bytes() : nullptr; }
    std::size_t size() const noexcept { return b_ ? b_->size : 0; }
    std::string_view view() const noexcept {
        return {reinterpret_cast<const char*>(data()), size()};
    }
    std::size_t use_count() const noexcept {
        return b_ ? b_->refs.load(std::memory_order_relaxed) : 0;
    }

  private:
    block* b_ = nullptr;
};

} // namespace sluice
