/* What the four timer benchmarks share, so that they measure the same thing:
 * arguments, the deadline pattern, the clock, the bookkeeping, the check and the
 * one-line report. C and C++; every function is static.
 *
 * The workload, identical for every library:
 *   schedule  create and start N one-shot timers; timer i is due offset_us(i) after it
 *             is started: base (2 s) + a permutation of [0, span) (1 s) spread evenly,
 *             so the deadlines are distinct (for N <= span in microseconds) and arrive
 *             in a scrambled order. Reported per timer started. Memory for the timer
 *             objects is first touched here for every library: the arrays the C
 *             programs and the vectors the C++ programs start with are allocated
 *             (untouched) before the phase, and sluice and asio allocate the rest.
 *   cancel    cancel every odd-numbered timer (N/2 of them, scattered over the whole
 *             queue), in index order; libraries that complete a cancelled wait with
 *             operation_aborted (sluice, asio) run those completions inside this phase
 *             (a non-blocking poll), so the phase ends when the library is done with
 *             them. Reported per timer cancelled.
 *   fire      sleep (untimed) until every remaining deadline has passed, then time the
 *             loop's run-until-idle: it pops and calls the N - N/2 expired timers and
 *             returns. Reported per timer fired: the cost of the timer queue and the
 *             dispatch, not of waiting.
 * Every non-cancelled timer must have fired exactly once, no cancelled one at all, and
 * nothing before the fire phase (base is long enough for the first two phases);
 * otherwise the program says why and exits 1. */
#ifndef SLUICE_BENCH_TIMERS_COMMON_H
#define SLUICE_BENCH_TIMERS_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench {
    long n;
    long base_ms;
    long span_ms;
    uint64_t mult;
    unsigned char* fired;   /* success callbacks, per timer (saturating) */
    unsigned char* aborted; /* operation_aborted callbacks, per timer */
    int firing;             /* set when the fire phase starts */
    long early;             /* successful callbacks before the fire phase */
    int cpu_clock;          /* --cpu-time: phases in thread CPU time instead of wall time */
};

static struct bench B;

static uint64_t bench_gcd(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* --timers N [--base-ms B] [--span-ms S] [--cpu-time]; allocates and touches the bookkeeping. */
static void bench_init(int argc, char** argv) {
    B.n = 1000000;
    B.base_ms = 2000;
    B.span_ms = 1000;
    for (int i = 1; i < argc; ++i) {
        if (i + 1 < argc && strcmp(argv[i], "--timers") == 0)
            B.n = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--base-ms") == 0)
            B.base_ms = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--span-ms") == 0)
            B.span_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--cpu-time") == 0)
            B.cpu_clock = 1;
        else {
            fprintf(stderr, "usage: %s [--timers N] [--base-ms B] [--span-ms S] [--cpu-time]\n",
                    argv[0]);
            exit(2);
        }
    }
    if (B.n < 2 || B.base_ms < 1 || B.span_ms < 1) {
        fprintf(stderr, "need --timers >= 2, --base-ms >= 1, --span-ms >= 1\n");
        exit(2);
    }
    /* i -> (i * mult) mod n is a permutation of [0, n) when mult and n are coprime. */
    B.mult = 2654435761u;
    while (bench_gcd(B.mult, (uint64_t)B.n) != 1) ++B.mult;
    B.fired = (unsigned char*)malloc((size_t)B.n);
    B.aborted = (unsigned char*)malloc((size_t)B.n);
    if (!B.fired || !B.aborted) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    memset(B.fired, 0, (size_t)B.n); /* fault the pages in now, not in a timed phase */
    memset(B.aborted, 0, (size_t)B.n);
}

/* Microseconds after its start at which timer i is due. */
static int64_t offset_us(long i) {
    uint64_t slot = ((uint64_t)i * B.mult) % (uint64_t)B.n;
    return (int64_t)B.base_ms * 1000 + (int64_t)(slot * (uint64_t)B.span_ms * 1000 / (uint64_t)B.n);
}

static int is_cancelled(long i) { return (int)(i & 1); }

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The phase clock: wall (monotonic) time, or this thread's CPU time with --cpu-time
 * (steadier on a shared machine; it leaves out time spent waiting for a core). */
static int64_t now_ns(void) {
    return clock_ns(B.cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC);
}

/* Wall time; taken when scheduling ends. */
static int64_t wall_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* Sleeps until every timer started by wall time `scheduled_ns` is past due (plus a
 * margin that covers libuv's millisecond rounding). */
static void sleep_past_deadlines(int64_t scheduled_ns) {
    int64_t t = scheduled_ns + ((int64_t)B.base_ms + B.span_ms + 5) * 1000000;
    struct timespec ts;
    ts.tv_sec = (time_t)(t / 1000000000);
    ts.tv_nsec = (long)(t % 1000000000);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

/* The completion every library's callback ends in. */
static inline void timer_done(long i, int aborted) {
    if (aborted) {
        if (B.aborted[i] < 255) ++B.aborted[i];
        return;
    }
    if (B.fired[i] < 255) ++B.fired[i];
    if (!B.firing) ++B.early;
}

/* expect_aborted: the library completes cancelled waits with operation_aborted. Prints
 * "schedule S cancel C fire F" (ns per timer) and returns 0, or explains and returns 1. */
static int bench_report(const char* lib, int expect_aborted, int64_t t0, int64_t t1, int64_t t2,
                        int64_t t3, int64_t t4) {
    long bad = 0, first = -1;
    for (long i = 0; i < B.n; ++i) {
        int ok = is_cancelled(i) ? (B.fired[i] == 0 && B.aborted[i] == (expect_aborted ? 1 : 0))
                                 : (B.fired[i] == 1 && B.aborted[i] == 0);
        if (!ok) {
            if (first < 0) first = i;
            ++bad;
        }
    }
    if (B.early) {
        fprintf(stderr, "%s: %ld timers fired before the fire phase (raise --base-ms)\n", lib,
                B.early);
        return 1;
    }
    if (bad) {
        fprintf(stderr, "%s: %ld of %ld timers wrong; first is #%ld (%s): fired %d, aborted %d\n",
                lib, bad, B.n, first, is_cancelled(first) ? "cancelled" : "not cancelled",
                B.fired[first], B.aborted[first]);
        return 1;
    }
    long cancelled = B.n / 2, fired = B.n - B.n / 2;
    printf("schedule %.1f cancel %.1f fire %.1f\n", (double)(t1 - t0) / (double)B.n,
           (double)(t2 - t1) / (double)cancelled, (double)(t4 - t3) / (double)fired);
    return 0;
}

#endif
