// Unmasking throughput next to memcpy on the same buffers, as a markdown table.
// Build: c++ -std=c++17 -O2 -Iinclude bench/ws_mask_bench.cpp -o ws_mask_bench
#include <sluice/ws/frame.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {
volatile std::uint8_t sink;

template <class F>
double gbps(std::size_t size, F&& f) {
    // Repeat until ~0.25 s, keep the best of 5 rounds (least disturbed by other load).
    std::size_t iters = 1;
    for (;;) {
        auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < iters; ++i) f();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s > 0.05) break;
        iters *= 2;
    }
    double best = 0;
    for (int round = 0; round < 5; ++round) {
        auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < iters; ++i) f();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double r = static_cast<double>(size) * static_cast<double>(iters) / s / 1e9;
        if (r > best) best = r;
    }
    return best;
}
} // namespace

int main() {
    const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    std::printf("| size | unmask in place (GB/s) | unmask copy (GB/s) | memcpy (GB/s) |\n");
    std::printf("|---:|---:|---:|---:|\n");
    for (std::size_t size : {std::size_t{64}, std::size_t{16} << 10, std::size_t{1} << 20}) {
        std::vector<std::uint8_t> src(size + 1), dst(size + 1);
        for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint8_t>(i);
        // Offset by one byte so the head/tail alignment path is part of the measurement.
        std::uint8_t* s = src.data() + 1;
        std::uint8_t* d = dst.data() + 1;
        const double inplace = gbps(size, [&] {
            sluice::ws::mask_inplace(s, size, key, 0);
            sink = s[size / 2];
        });
        const double copy = gbps(size, [&] {
            sluice::ws::mask_copy(d, s, size, key, 1);
            sink = d[size / 2];
        });
        const double mc = gbps(size, [&] {
            std::memcpy(d, s, size);
            sink = d[size / 2];
        });
        const char* unit = size >= (1u << 20) ? "MiB" : size >= 1024 ? "KiB" : "B";
        const std::size_t shown = size >= (1u << 20) ? size >> 20
                                  : size >= 1024     ? size >> 10
                                                     : size;
        std::printf("| %zu %s | %.2f | %.2f | %.2f |\n", shown, unit, inplace, copy, mc);
    }
#if defined(__SSE2__)
    std::printf("\n(SSE2 path enabled)\n");
#else
    std::printf("\n(portable 64-bit word path)\n");
#endif
    return 0;
}
