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
    timer_node* top() const noexcept { return heap_.front(); }

    void push(timer_node* n) {
        n->heap_index = heap_.size();
        heap_.push_back(n);
        sift_up(n->heap_index);
    }

    void remove(timer_node* n) noexcept {
        std::size_t i = n->heap_index;
        if (i == timer_node::not_queued) return;
        n->heap_index = timer_node::not_queued;
        timer_node* last = heap_.back();
        heap_.pop_back();
        if (i == heap_.size()) return;
        heap_[i] = last;
        last->heap_index = i;
        if (i > 0 && less(last, heap_[(i - 1) / 4]))
            sift_up(i);
        else
            sift_down(i);
    }

    // Used by the loop when it goes away: every node is forgotten at once.
    template <class F>
    void clear(F&& on_each) {
        std::vector<timer_node*> all;
        all.swap(heap_);
        for (timer_node* n : all) {
            n->heap_index = timer_node::not_queued;
            on_each(n);
        }
    }

  private:
    static bool less(const timer_node* a, const timer_node* b) noexcept {
        return a->deadline_us < b->deadline_us ||
               (a->deadline_us == b->deadline_us && a->seq < b->seq);
    }
    void place(std::size_t i, timer_node* n) noexcept {
        heap_[i] = n;
        n->heap_index = i;
    }
    void sift_up(std::size_t i) noexcept {
        timer_node* n = heap_[i];
        while (i > 0) {
            std::size_t parent = (i - 1) / 4;
            if (!less(n, heap_[parent])) break;
            place(i, heap_[parent]);
            i = parent;
        }
        place(i, n);
    }
    void sift_down(std::size_t i) noexcept {
        timer_node* n = heap_[i];
        const std::size_t size = heap_.size();
        for (;;) {
            std::size_t first = 4 * i + 1;
            if (first >= size) break;
            std::size_t best = first;
            std::size_t end = first + 4 < size ? first + 4 : size;
            for (std::size_t c = first + 1; c < end; ++c)
                if (less(heap_[c], heap_[best])) best = c;
            if (!less(heap_[best], n)) break;
            place(i, heap_[best]);
            i = best;
        }
        place(i, n);
    }

    std::vector<timer_node*> heap_;
};

} // namespace sluice::detail
