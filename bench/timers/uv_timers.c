/* libuv: schedule, cancel and fire N one-shot timers (the workload is described in
 * timers_common.h). An array of uv_timer_t, uv_timer_init + uv_timer_start; cancel is
 * uv_timer_stop (no callback). libuv timeouts are whole milliseconds from the cached
 * loop time, so each offset is rounded up to the next millisecond.
 *   uv_timers [--timers N] */
#include <uv.h>

#include "timers_common.h"

static uv_timer_t* timers;

static void on_timer(uv_timer_t* t) { timer_done((long)(t - timers), 0); }
static void on_close(uv_handle_t* h) { (void)h; }

int main(int argc, char** argv) {
    bench_init(argc, argv);
    const long n = B.n;
    uv_loop_t loop;
    uv_loop_init(&loop);
    timers = (uv_timer_t*)malloc(sizeof(uv_timer_t) * (size_t)n);
    if (!timers) return 1;
    uv_update_time(&loop); /* deadlines count from now, not from uv_loop_init */

    int64_t t0 = now_ns();
    for (long i = 0; i < n; ++i) {
        uv_timer_init(&loop, &timers[i]);
        uv_timer_start(&timers[i], on_timer, (uint64_t)((offset_us(i) + 999) / 1000), 0);
    }
    int64_t t1 = now_ns();
    int64_t scheduled = wall_ns();
    for (long i = 1; i < n; i += 2) uv_timer_stop(&timers[i]);
    int64_t t2 = now_ns();

    sleep_past_deadlines(scheduled);
    B.firing = 1;
    int64_t t3 = now_ns();
    uv_run(&loop, UV_RUN_DEFAULT);
    int64_t t4 = now_ns();
    int rc = bench_report("libuv", 0, t0, t1, t2, t3, t4);

    for (long i = 0; i < n; ++i) uv_close((uv_handle_t*)&timers[i], on_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(timers);
    return rc;
}
