// sluice — socket -> slot lookup for the Windows pollers. POSIX pollers index a
// vector by descriptor, which works because descriptors are small and dense; Windows
// SOCKETs are kernel handle values (multiples of 4, spread over a wide range), so
// they go through a small open-addressing hash table instead (linear probing,
// backward-shift deletion, so lookups never wade through tombstones).
#pragma once

#include <sluice/platform/socket.hpp>

#if defined(SLUICE_WINDOWS)
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::detail {

class socket_index {
  public:
    // The slot stored for s, or -1.
    int find(native_socket s) const noexcept {
        if (cells_.empty()) return -1;
        for (std::size_t i = home(s);; i = (i + 1) & mask()) {
            if (cells_[i].key == s) return cells_[i].slot;
            if (cells_[i].key == invalid_socket) return -1;
        }
    }

    // Inserts s or updates its slot.
    void put(native_socket s, int slot) {
        if ((used_ + 1) * 2 > cells_.size()) grow();
        std::size_t i = home(s);
        while (cells_[i].key != invalid_socket && cells_[i].key != s) i = (i + 1) & mask();
        if (cells_[i].key == invalid_socket) ++used_;
        cells_[i] = {s, slot};
    }

    void erase(native_socket s) noexcept {
        if (cells_.empty()) return;
        std::size_t i = home(s);
        while (cells_[i].key != s) {
            if (cells_[i].key == invalid_socket) return;
            i = (i + 1) & mask();
        }
        // Pull back every later entry of the run that would no longer be reachable
        // from its home position across the hole.
        for (std::size_t j = (i + 1) & mask(); cells_[j].key != invalid_socket;
             j = (j + 1) & mask()) {
            std::size_t h = home(cells_[j].key);
            bool reachable = i <= j ? (h > i && h <= j) : (h > i || h <= j);
            if (!reachable) {
                cells_[i] = cells_[j];
                i = j;
            }
        }
        cells_[i].key = invalid_socket;
        --used_;
    }

  private:
    struct cell {
        native_socket key;
        int slot;
    };

    std::size_t mask() const noexcept { return cells_.size() - 1; }
    // Fibonacci hashing of the handle value without its two always-zero bits.
    std::size_t home(native_socket s) const noexcept {
        std::uint64_t h = (static_cast<std::uint64_t>(s) >> 2) * 0x9e3779b97f4a7c15ull;
        return static_cast<std::size_t>(h >> (64 - bits_));
    }

    void grow() {
        std::vector<cell> old;
        old.swap(cells_);
        bits_ = old.empty() ? 6 : bits_ + 1;
        cells_.assign(std::size_t{1} << bits_, cell{invalid_socket, -1});
        used_ = 0;
        for (const cell& c : old)
            if (c.key != invalid_socket) put(c.key, c.slot);
    }

    std::vector<cell> cells_;
    std::size_t used_ = 0;
    unsigned bits_ = 0;
};

} // namespace sluice::detail
#endif
