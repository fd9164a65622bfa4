// A program of several translation units built in separate-compilation mode: each
// defines SLUICE_SEPARATE_COMPILATION, impl.cpp also SLUICE_IMPLEMENTATION. It links
// (every body exists exactly once) and works.
#include <cstdio>

bool echo_over_loopback();
bool protocols_work();
bool deflate_works();

int main() {
    const bool echoed = echo_over_loopback();
    const bool parsed = protocols_work();
    const bool deflated = deflate_works();
    std::printf("echo over loopback: %s, protocols: %s, deflate: %s\n", echoed ? "ok" : "FAILED",
                parsed ? "ok" : "FAILED", deflated ? "ok" : "FAILED");
    return echoed && parsed && deflated ? 0 : 1;
}
