// One of two translation units that both include the whole library.
#include <sluice.hpp>

int run_timer_in_a() {
    sluice::loop loop;
    sluice::timer t(loop);
    int fired = 0;
    t.start(std::chrono::milliseconds(1), [&](std::error_code ec) { fired += ec ? 0 : 1; });
    loop.run();
    return fired;
}
