#define _GNU_SOURCE
/* The io_uring reference: the least a liburing echo server does, as epoll_echo.c is for
 * epoll. One thread, one ring; a multishot accept; per connection one multishot recv that
 * picks its buffer from a provided buffer ring (an idle connection owns no buffer); the
 * data is sent back from that same buffer, which returns to the ring once sent. One
 * io_uring_submit_and_wait per iteration submits everything and waits. The ring is
 * SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them (6.1), else COOP_TASKRUN, else
 * plain. Bench only: liburing is never a dependency of sluice. Usage: uring_echo --port P */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* 2048 buffers of 16 KiB: one 16 KiB message fits one receive, and 1,000 connections
 * with a message each in flight never starve the ring. Pages are touched only when used. */
enum { BUF_COUNT = 2048, BUF_SIZE = 16384, BGID = 1, MAX_FD = 65536 };
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

/* Sends on one socket stay in order only one at a time: a send that waits for space
 * would otherwise let the next one pass it. So each connection queues its received
 * buffers and keeps at most one send in flight. */
struct chunk { unsigned short bid; unsigned off, len; };
struct conn {
    struct chunk* q;
    unsigned head, count, cap;
    int sending, receiving, closing, starved;
};

static struct io_uring ring;
static struct io_uring_buf_ring* br;
static char* bufs;
static unsigned recycled;
static struct conn conns[MAX_FD];
static int starved_fds[MAX_FD], nstarved;

static __u64 tag(int op, int fd) { return ((__u64)op << 32) | (unsigned)fd; }

static struct io_uring_sqe* sqe_get(void) {
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    while (!sqe) { /* the SQ is full: hand it to the kernel without waiting */
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(int ls) {
    struct io_uring_sqe* sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, ls, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, tag(OP_ACCEPT, ls));
}

static void arm_recv(int fd) {
    struct io_uring_sqe* sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, tag(OP_RECV, fd));
    conns[fd].receiving = 1;
}

static void recycle(unsigned short bid) {
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
                          io_uring_buf_ring_mask(BUF_COUNT), (int)recycled++);
}

static void send_front(int fd) {
    struct conn* c = &conns[fd];
    struct chunk* k = &c->q[c->head];
    struct io_uring_sqe* sqe = sqe_get();
    io_uring_prep_send(sqe, fd, bufs + (size_t)k->bid * BUF_SIZE + k->off, k->len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(OP_SEND, fd));
    c->sending = 1;
}

static void push(int fd, unsigned short bid, unsigned len) {
    struct conn* c = &conns[fd];
    if (c->count == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 4;
        struct chunk* q = malloc(cap * sizeof *q);
        for (unsigned i = 0; i < c->count; ++i) q[i] = c->q[(c->head + i) % c->cap];
        free(c->q);
        c->q = q, c->cap = cap, c->head = 0;
    }
    c->q[(c->head + c->count++) % c->cap] = (struct chunk){bid, 0, len};
    if (!c->sending) send_front(fd);
}

/* Closes once nothing of the kernel's still names the fd, so a reused number is never
 * confused with the old connection. */
static void maybe_close(int fd) {
    struct conn* c = &conns[fd];
    if (!c->closing || c->sending || c->receiving) return;
    while (c->count) { recycle(c->q[c->head].bid); c->head = (c->head + 1) % c->cap; --c->count; }
    free(c->q);
    memset(c, 0, sizeof *c);
    close(fd);
}

static void on_cqe(struct io_uring_cqe* cqe, int ls) {
    int op = (int)(cqe->user_data >> 32), fd = (int)(cqe->user_data & 0xffffffffu), res = cqe->res;
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (op == OP_ACCEPT) {
        if (res >= 0 && res < MAX_FD) {
            int one = 1;
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            arm_recv(res);
        } else if (res >= 0) {
            close(res);
        }
        if (!more) arm_accept(ls);
        return;
    }
    struct conn* c = &conns[fd];
    if (op == OP_RECV) {
        if (res > 0) push(fd, (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT), (unsigned)res);
        if (more) return;
        c->receiving = 0;
        if (res == -ENOBUFS && !c->closing) { /* every buffer is out: re-arm once some come back */
            c->starved = 1;
            starved_fds[nstarved++] = fd;
        } else if (res > 0 && !c->closing) {
            arm_recv(fd); /* the kernel ended the multishot with data: keep receiving */
        } else {
            c->closing = 1;
            maybe_close(fd);
        }
        return;
    }
    /* OP_SEND */
    c->sending = 0;
    struct chunk* k = &c->q[c->head];
    if (res <= 0) {
        c->closing = 1;
        shutdown(fd, SHUT_RDWR); /* ends the pending multishot recv, which then closes */
        maybe_close(fd);
        return;
    }
    k->off += (unsigned)res;
    k->len -= (unsigned)res;
    if (k->len == 0) {
        recycle(k->bid);
        c->head = (c->head + 1) % c->cap;
        --c->count;
    }
    if (c->count && !c->closing) send_front(fd);
    maybe_close(fd);
}

static int setup_ring(void) {
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    for (unsigned i = 0; i < sizeof tries / sizeof tries[0]; ++i) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        if (io_uring_queue_init_params(4096, &ring, &p) == 0) return 0;
    }
    return -1;
}

int main(int argc, char** argv) {
    int port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (bind(ls, (struct sockaddr*)&sa, sizeof sa) || listen(ls, 511)) { perror("uring_echo"); return 1; }
    if (setup_ring()) { perror("uring_echo: io_uring_queue_init"); return 1; }

    size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
    if (posix_memalign((void**)&br, (size_t)sysconf(_SC_PAGESIZE), ring_bytes) ||
        posix_memalign((void**)&bufs, (size_t)sysconf(_SC_PAGESIZE), (size_t)BUF_COUNT * BUF_SIZE)) {
        perror("uring_echo: posix_memalign");
        return 1;
    }
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)br;
    reg.ring_entries = BUF_COUNT;
    reg.bgid = BGID;
    int rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc) { fprintf(stderr, "uring_echo: register_buf_ring: %s\n", strerror(-rc)); return 1; }
    for (unsigned short b = 0; b < BUF_COUNT; ++b) recycle(b);
    io_uring_buf_ring_advance(br, (int)recycled);
    recycled = 0;

    printf("uring_echo: listening on port %d, ring flags 0x%x\n", port, ring.flags);
    fflush(stdout);
    arm_accept(ls);
    for (;;) {
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR) { fprintf(stderr, "uring_echo: submit_and_wait: %s\n", strerror(-rc)); return 1; }
        struct io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            on_cqe(cqe, ls);
            ++seen;
        }
        io_uring_cq_advance(&ring, seen);
        if (recycled) { /* publish the returned buffers, then wake who starved for them */
            io_uring_buf_ring_advance(br, (int)recycled);
            recycled = 0;
            while (nstarved) {
                int fd = starved_fds[--nstarved];
                if (!conns[fd].starved) continue; /* closed since, or listed twice */
                conns[fd].starved = 0;
                arm_recv(fd);
            }
        }
    }
}
