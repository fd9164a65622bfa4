// The packaged header works: a loop runs a repeating timer three times and a posted
// callback once, then returns because nothing is left to wait for.
#include <sluice.hpp>

#include <chrono>
#include <cstdio>

int main() {
    sluice::loop loop;
    sluice::timer ticker(loop);
    int ticks = 0;
    bool posted_ran = false;
    ticker.start(std::chrono::milliseconds(1), std::chrono::milliseconds(1),
                 [&](std::error_code ec) {
                     if (ec) return;
                     if (++ticks == 3) ticker.close();
                 });
    loop.post([&] { posted_ran = true; });
    loop.run();
    std::printf("sluice %s (%s backend): %d ticks, posted callback %s\n", SLUICE_VERSION_STRING,
                loop.backend_name(), ticks, posted_ran ? "ran" : "did not run");
    return ticks == 3 && posted_ran ? 0 : 1;
}
