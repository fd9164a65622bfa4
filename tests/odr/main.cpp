#include <cstdio>

int run_timer_in_a();
bool parse_in_b();

int main() {
    int fired = run_timer_in_a();
    bool parsed = parse_in_b();
    std::printf("timer fired %d time(s), request parsed: %s\n", fired, parsed ? "yes" : "no");
    return fired == 1 && parsed ? 0 : 1;
}
