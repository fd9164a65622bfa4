// sluice: schedule, cancel and fire N one-shot timers (the workload is described in
// timers_common.h). One sluice::timer per deadline, started with a relative duration;
// a cancelled wait completes with operation_aborted, delivered by loop.poll().
//   sluice_timers [--timers N]
#include <sluice.hpp>

#include "timers_common.h"

#include <chrono>
#include <vector>

int main(int argc, char** argv) {
    bench_init(argc, argv);
    const long n = B.n;
    sluice::loop loop;
    std::vector<sluice::timer> timers;
    timers.reserve(static_cast<std::size_t>(n));

    int64_t t0 = now_ns();
    for (long i = 0; i < n; ++i) {
        timers.emplace_back(loop);
        timers.back().start(std::chrono::microseconds(offset_us(i)),
                            [i](std::error_code ec) { timer_done(i, ec ? 1 : 0); });
    }
    int64_t t1 = now_ns();
    int64_t scheduled = wall_ns();
    for (long i = 1; i < n; i += 2) timers[static_cast<std::size_t>(i)].cancel();
    loop.poll(); // runs the operation_aborted completions
    int64_t t2 = now_ns();

    sleep_past_deadlines(scheduled);
    B.firing = 1;
    int64_t t3 = now_ns();
    loop.run();
    int64_t t4 = now_ns();
    return bench_report("sluice", 1, t0, t1, t2, t3, t4);
}
