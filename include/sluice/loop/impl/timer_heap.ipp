// sluice — out-of-line bodies of sluice/loop/timer_heap.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/loop/timer_heap.hpp>

namespace sluice::detail {

SLUICE_DECL void timer_heap::push(timer_node* n) {
    n->heap_index = heap_.size();
    heap_.push_back({n->deadline_us, n});
    sift_up(n->heap_index);
}

SLUICE_DECL void timer_heap::remove(timer_node* n) noexcept {
    std::size_t i = n->heap_index;
    if (i == timer_node::not_queued) return;
    n->heap_index = timer_node::not_queued;
    entry last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    if (i > 0 && less(last, heap_[(i - 1) / 4]))
        sift_up(i, last);
    else
        sift_down(i, last);
}

SLUICE_DECL bool timer_heap::less(const entry& a, const entry& b) noexcept {
    return a.deadline_us < b.deadline_us ||
           (a.deadline_us == b.deadline_us && a.node->seq < b.node->seq);
}

SLUICE_DECL void timer_heap::place(std::size_t i, const entry& e) noexcept {
    heap_[i] = e;
    e.node->heap_index = i;
}

SLUICE_DECL void timer_heap::sift_up(std::size_t i, entry e) noexcept {
    while (i > 0) {
        std::size_t parent = (i - 1) / 4;
        if (!less(e, heap_[parent])) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, e);
}

SLUICE_DECL void timer_heap::sift_down(std::size_t i, entry e) noexcept {
    const std::size_t size = heap_.size();
    for (;;) {
        std::size_t first = 4 * i + 1;
        if (first >= size) break;
        std::size_t best = first;
        std::size_t end = first + 4 < size ? first + 4 : size;
        for (std::size_t c = first + 1; c < end; ++c)
            if (less(heap_[c], heap_[best])) best = c;
        if (!less(heap_[best], e)) break;
        place(i, heap_[best]);
        i = best;
    }
    place(i, e);
}
} // namespace sluice::detail
