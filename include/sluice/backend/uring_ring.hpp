// sluice — the io_uring rings themselves (backend/io_uring.hpp drives them): setup with a
// ladder of flags, the mapped submission and completion queues, and a provided-buffer
// ring. Raw syscalls only; knows nothing about handles.
#pragma once

#include <sluice/backend/backend.hpp>

#if SLUICE_HAS_IO_URING
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

// The numbers came after Linux unified its syscall tables: the same on every architecture.
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

namespace sluice::detail {

// The ring pair itself: setup with a ladder of flags, submission slots, the completion
// queue. Knows nothing about handles.
class uring {
  public:
    uring() = default;
    uring(const uring&) = delete;
    uring& operator=(const uring&) = delete;
    ~uring() { close(); }

    // Creates the rings; on failure returns the error and sets `why` to what failed.
    std::error_code open(unsigned entries, unsigned cq_entries, std::string& why) noexcept {
        static constexpr unsigned ladder[] = {
#if defined(IORING_SETUP_DEFER_TASKRUN) && defined(IORING_SETUP_SINGLE_ISSUER)
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
#endif
#if defined(IORING_SETUP_COOP_TASKRUN)
            IORING_SETUP_COOP_TASKRUN,
#endif
            0u};
        int err = 0;
        for (unsigned extra : ladder) {
            io_uring_params p;
            std::memset(&p, 0, sizeof p);
            p.flags = extra | IORING_SETUP_CQSIZE;
            p.cq_entries = cq_entries;
            int fd = static_cast<int>(::syscall(__NR_io_uring_setup, entries, &p));
            if (fd < 0) {
                err = errno;
                // EINVAL: this kernel does not know a flag; try fewer. Anything else
                // (ENOSYS, EPERM from a sysctl or a seccomp filter, ENOMEM) is final.
                if (err == EINVAL) continue;
                break;
            }
            fd_ = fd;
            flags_ = p.flags;
            if (!(p.features & IORING_FEAT_EXT_ARG)) {
                why = "io_uring: kernel too old (needs IORING_FEAT_EXT_ARG, Linux 5.11)";
                close();
                return std::make_error_code(std::errc::function_not_supported);
            }
            if (auto ec = map(p)) {
                why = std::string("io_uring: mmap of the rings failed: ") + ec.message();
                close();
                return ec;
            }
            return {};
        }
        why = std::string("io_uring_setup: ") + std::strerror(err);
        if (err == EPERM)
            why += " (kernel.io_uring_disabled, or a seccomp profile such as Docker's default)";
        else if (err == ENOSYS)
            why += " (the kernel has no io_uring, or a seccomp profile hides it)";
        return {err, std::system_category()};
    }

    void close() noexcept {
        if (sq_ptr_ && sq_ptr_ != MAP_FAILED) ::munmap(sq_ptr_, sq_len_);
        if (cq_ptr_ && cq_ptr_ != MAP_FAILED && cq_ptr_ != sq_ptr_) ::munmap(cq_ptr_, cq_len_);
        if (sqes_ && sqes_ != MAP_FAILED) ::munmap(sqes_, sqes_len_);
        sq_ptr_ = cq_ptr_ = nullptr;
        sqes_ = nullptr;
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    int fd() const noexcept { return fd_; }
    // Whether a thread has entered the ring yet (the first enter makes it the issuer).
    bool enabled() const noexcept { return enabled_; }
    // Whether the calling thread is the one that runs the ring (or none does yet).
    bool on_owner_thread() const noexcept { return !enabled_ || owner_ == static_cast<pid_t>(::syscall(SYS_gettid)); }
    void forget_fd() noexcept { fd_ = -1; }
    unsigned setup_flags() const noexcept { return flags_; }

    bool has_room(unsigned n) const noexcept {
        return sq_entries_ - (sq_tail_ - __atomic_load_n(sq_khead_, __ATOMIC_ACQUIRE)) >= n;
    }

    // A zeroed submission slot, or null when the queue is full (enter() first).
    io_uring_sqe* next_sqe() noexcept {
        unsigned head = __atomic_load_n(sq_khead_, __ATOMIC_ACQUIRE);
        if (sq_tail_ - head >= sq_entries_) return nullptr;
        io_uring_sqe* e = &sqes_[sq_tail_ & sq_mask_];
        std::memset(e, 0, sizeof *e);
        ++sq_tail_;
        return e;
    }

    // Hands queued submissions to the kernel and, when min_complete > 0, waits up to
    // timeout_us (< 0: without limit) for that many completions. Returns 0 or -errno
    // (ETIME and EINTR are not errors for the caller, who reaps what is there either way).
    int enter(unsigned min_complete, std::int64_t timeout_us) noexcept {
        if (!enabled_) {
            enabled_ = true;
            owner_ = static_cast<pid_t>(::syscall(SYS_gettid));
            if (flags_ & IORING_SETUP_R_DISABLED) {
                if (::syscall(__NR_io_uring_register, fd_, IORING_REGISTER_ENABLE_RINGS, nullptr,
                              0) < 0)
                    return -errno;
            }
        }
        __atomic_store_n(sq_ktail_, sq_tail_, __ATOMIC_RELEASE);
        unsigned to_submit = sq_tail_ - __atomic_load_n(sq_khead_, __ATOMIC_ACQUIRE);
        io_uring_getevents_arg arg;
        std::memset(&arg, 0, sizeof arg);
        __kernel_timespec ts{};
        if (timeout_us >= 0 && min_complete > 0) {
            if (timeout_us > max_wait_us) timeout_us = max_wait_us;
            ts.tv_sec = timeout_us / 1000000;
            ts.tv_nsec = (timeout_us % 1000000) * 1000;
            arg.ts = reinterpret_cast<std::uint64_t>(&ts);
        }
        long r = ::syscall(__NR_io_uring_enter, fd_, to_submit, min_complete,
                           IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
        return r < 0 ? -errno : 0;
    }

    // Turns a request that is still queued, not yet handed to the kernel, into a no-op
    // (its completion still comes, with the same user_data). False when none was queued.
    bool neutralise(std::uint64_t user_data) noexcept {
        bool found = false;
        for (unsigned i = *sq_ktail_; i != sq_tail_; ++i) {
            io_uring_sqe* e = &sqes_[i & sq_mask_];
            if (e->user_data != user_data) continue;
            std::memset(e, 0, sizeof *e);
            e->opcode = IORING_OP_NOP;
            e->fd = -1;
            e->user_data = user_data;
            found = true;
        }
        return found;
    }

    bool cq_empty() const noexcept {
        return *cq_khead_ == __atomic_load_n(cq_ktail_, __ATOMIC_ACQUIRE);
    }

    // Calls f(cqe) for up to `max` completions, oldest first, and releases their slots.
    // f returns false to leave that completion (and the rest) for the next call.
    template <class F>
    unsigned reap(F&& f) noexcept {
        unsigned head = *cq_khead_;
        const unsigned tail = __atomic_load_n(cq_ktail_, __ATOMIC_ACQUIRE);
        unsigned seen = 0;
        while (head != tail) {
            if (!f(cqes_[head & cq_mask_])) break;
            ++head;
            ++seen;
        }
        __atomic_store_n(cq_khead_, head, __ATOMIC_RELEASE);
        return seen;
    }

  private:
    std::error_code map(const io_uring_params& p) noexcept {
        sq_len_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
        cq_len_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
        const bool single = p.features & IORING_FEAT_SINGLE_MMAP;
        if (single && cq_len_ > sq_len_) sq_len_ = cq_len_;
        sq_ptr_ = ::mmap(nullptr, sq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                         IORING_OFF_SQ_RING);
        if (sq_ptr_ == MAP_FAILED) return {errno, std::system_category()};
        cq_ptr_ = single ? sq_ptr_
                         : ::mmap(nullptr, cq_len_, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
        if (cq_ptr_ == MAP_FAILED) return {errno, std::system_category()};
        sqes_len_ = p.sq_entries * sizeof(io_uring_sqe);
        void* s = ::mmap(nullptr, sqes_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                         fd_, IORING_OFF_SQES);
        if (s == MAP_FAILED) return {errno, std::system_category()};
        sqes_ = static_cast<io_uring_sqe*>(s);
        auto* sq = static_cast<char*>(sq_ptr_);
        auto* cq = static_cast<char*>(cq_ptr_);
        sq_khead_ = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
        sq_ktail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
        sq_mask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
        sq_entries_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_entries);
        // Slot i of the index array always names sqe i: submissions stay in ring order.
        auto* array = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
        for (unsigned i = 0; i < sq_entries_; ++i) array[i] = i;
        sq_tail_ = *sq_ktail_;
        cq_khead_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
        cq_ktail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
        cq_mask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
        cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
        return {};
    }

    int fd_ = -1;
    unsigned flags_ = 0;
    bool enabled_ = false;
    pid_t owner_ = 0;
    void* sq_ptr_ = nullptr;
    void* cq_ptr_ = nullptr;
    std::size_t sq_len_ = 0, cq_len_ = 0, sqes_len_ = 0;
    io_uring_sqe* sqes_ = nullptr;
    io_uring_cqe* cqes_ = nullptr;
    unsigned* sq_khead_ = nullptr;
    unsigned* sq_ktail_ = nullptr;
    unsigned* cq_khead_ = nullptr;
    unsigned* cq_ktail_ = nullptr;
    unsigned sq_mask_ = 0, sq_entries_ = 0, cq_mask_ = 0;
    unsigned sq_tail_ = 0; // ours; published to the kernel by enter()
};

// A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19): the kernel picks a free
// buffer for each receive, so a connection waiting for data owns no read buffer. The ring
// of descriptors is registered when the loop starts (that tells whether the kernel can do
// it); the buffers themselves are allocated on the first receive.
class provided_buffers {
  public:
    static constexpr unsigned count = 256;       // a power of two
    static constexpr unsigned size = 8 * 1024;   // bytes per buffer
    static constexpr unsigned short group = 0;

    provided_buffers() = default;
    provided_buffers(const provided_buffers&) = delete;
    provided_buffers& operator=(const provided_buffers&) = delete;
    ~provided_buffers() {
        if (ring_) ::munmap(ring_, ring_len());
        if (memory_) ::munmap(memory_, std::size_t(count) * size);
    }

    // Registers the (empty) ring with `ring_fd`; false when the kernel cannot.
    bool attach(int ring_fd) noexcept {
        void* r = ::mmap(nullptr, ring_len(), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r == MAP_FAILED) return false;
        ring_ = static_cast<io_uring_buf_ring*>(r);
        io_uring_buf_reg reg;
        std::memset(&reg, 0, sizeof reg);
        reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_);
        reg.ring_entries = count;
        reg.bgid = group;
        if (::syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
            ::munmap(ring_, ring_len());
            ring_ = nullptr;
            return false;
        }
        return true;
    }

    // Allocates the buffers and hands them all to the kernel (once).
    bool fill() noexcept {
        if (memory_) return true;
        void* m = ::mmap(nullptr, std::size_t(count) * size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return false;
        memory_ = static_cast<char*>(m);
        for (unsigned short id = 0; id < count; ++id) give_back(id);
        publish();
        return true;
    }

    const char* data(unsigned short id) const noexcept { return memory_ + std::size_t(id) * size; }

    // Returns a buffer to the kernel; visible to it after publish().
    void give_back(unsigned short id) noexcept {
        io_uring_buf& b = entries()[tail_ & (count - 1)];
        b.addr = reinterpret_cast<std::uint64_t>(data(id));
        b.len = size;
        b.bid = id;
        ++tail_;
    }
    // The tail overlays the first entry's `resv` (the kernel's layout).
    void publish() noexcept { __atomic_store_n(&entries()[0].resv, tail_, __ATOMIC_RELEASE); }

  private:
    static std::size_t ring_len() noexcept { return count * sizeof(io_uring_buf); }
    // The ring is an array of io_uring_buf. Not through io_uring_buf_ring::bufs: in C++
    // the empty struct that __DECLARE_FLEX_ARRAY puts before it takes a byte, which moves
    // the array 8 bytes away from where the kernel reads it.
    io_uring_buf* entries() noexcept { return reinterpret_cast<io_uring_buf*>(ring_); }
    io_uring_buf_ring* ring_ = nullptr;
    char* memory_ = nullptr;
    unsigned short tail_ = 0;
};

} // namespace sluice::detail
#endif
