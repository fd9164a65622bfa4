/* Declarations-only stand-in for the BSD <sys/event.h>, written from kqueue(2), so
 * the kqueue backend is compiled on Linux CI machines, where no kqueue exists
 * (compile_kqueue.cpp, -fsyntax-only), and run against the recording fake of
 * kqueue()/kevent() that poller_test.cpp defines. */
#pragma once
#include <stdint.h>
#include <time.h>

struct kevent {
    uintptr_t ident;
    short filter;
    unsigned short flags;
    unsigned int fflags;
    intptr_t data;
    void* udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_ERROR 0x4000
#define EV_EOF 0x8000
/* Like the BSD and macOS headers, the entry pointer is evaluated once: a caller may
 * pass &ch[n++]. */
#define EV_SET(kevp, a, b, c, d, e, f)                                                             \
    do {                                                                                           \
        struct kevent* ev_set_p_ = (kevp);                                                         \
        ev_set_p_->ident = (a);                                                                    \
        ev_set_p_->filter = (b);                                                                   \
        ev_set_p_->flags = (c);                                                                    \
        ev_set_p_->fflags = (d);                                                                   \
        ev_set_p_->data = (e);                                                                     \
        ev_set_p_->udata = (f);                                                                    \
    } while (0)

extern "C" int kqueue(void);
extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
                      int nevents, const struct timespec* timeout);
