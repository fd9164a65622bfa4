/* libevent: schedule, cancel and fire N one-shot timers (the workload is described in
 * timers_common.h). One array of struct event (sized with
 * event_get_struct_event_size()), evtimer_assign + evtimer_add; cancel is evtimer_del
 * (no callback).
 *   event_timers [--timers N] */
#include <event2/event.h>

#include "timers_common.h"

static char* events;
static size_t event_size;

static struct event* event_at(long i) { return (struct event*)(events + (size_t)i * event_size); }
static void on_timer(evutil_socket_t fd, short what, void* arg) {
    (void)fd;
    (void)what;
    timer_done((long)(((char*)arg - events) / (ptrdiff_t)event_size), 0);
}

int main(int argc, char** argv) {
    bench_init(argc, argv);
    const long n = B.n;
    struct event_base* base = event_base_new();
    if (!base) return 1;
    event_size = event_get_struct_event_size();
    events = (char*)malloc(event_size * (size_t)n);
    if (!events) return 1;

    int64_t t0 = now_ns();
    for (long i = 0; i < n; ++i) {
        struct event* ev = event_at(i);
        int64_t us = offset_us(i);
        struct timeval tv;
        tv.tv_sec = (time_t)(us / 1000000);
        tv.tv_usec = (suseconds_t)(us % 1000000);
        evtimer_assign(ev, base, on_timer, ev);
        evtimer_add(ev, &tv);
    }
    int64_t t1 = now_ns();
    int64_t scheduled = wall_ns();
    for (long i = 1; i < n; i += 2) evtimer_del(event_at(i));
    int64_t t2 = now_ns();

    sleep_past_deadlines(scheduled);
    B.firing = 1;
    int64_t t3 = now_ns();
    event_base_dispatch(base);
    int64_t t4 = now_ns();
    int rc = bench_report("libevent", 0, t0, t1, t2, t3, t4);

    event_base_free(base);
    free(events);
    return rc;
}
