// sluice — 4-ary min-heap of timers. O(log n) insert, cancel and pop; cancel is by
// index stored in the node, so no search. Ties break on a sequence number taken at
// scheduling, so equal deadlines fire in the order they were scheduled. A 4-ary heap
// is shallower than a binary one and its children share a cache line (libev's
// EV_USE_4HEAP finding).
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::detail {

struct timer_node {
    static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);
    std::int64_t deadline_us = 0;
    std::uint64_t seq = 0;
    std::size_t heap_index = not_queued;
    bool queued() const noexcept { return heap_index != not_queued; }
    virtual void on_timer() = 0;

  protected:
    ~timer_node() = default;
};

class timer_heap {
  public:
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    timer_node* top() const noexcept { return heap_.front().node; }

    SLUICE_DECL void push(timer_node* n);

    SLUICE_DECL void remove(timer_node* n) noexcept;

    // Used by the loop when it goes away: every node is forgotten at once.
    template <class F>
    void clear(F&& on_each) {
        std::vector<entry> all;
        all.swap(heap_);
        for (entry& e : all) {
            e.node->heap_index = timer_node::not_queued;
            on_each(e.node);
        }
    }

  private:
    // The deadline is kept beside the pointer so that sifting compares within the heap's
    // own array (four children per cache line) instead of loading each node: that took
    // firing from ~600 to ~240 ns per timer at a million timers. The sequence number is
    // read from the node only on a tie.
    struct entry {
        std::int64_t deadline_us;
        timer_node* node;
    };
    SLUICE_DECL static bool less(const entry& a, const entry& b) noexcept;
    SLUICE_DECL void place(std::size_t i, const entry& e) noexcept;
    void sift_up(std::size_t i) noexcept { sift_up(i, heap_[i]); }
    SLUICE_DECL void sift_up(std::size_t i, entry e) noexcept;
    SLUICE_DECL void sift_down(std::size_t i, entry e) noexcept;

    std::vector<entry> heap_;
};

} // namespace sluice::detail

#if SLUICE_COMPILE_BODIES
#include <sluice/loop/impl/timer_heap.ipp>
#endif
