#define _GNU_SOURCE
/* The physical-limit reference for the plaintext benchmark: the least an epoll HTTP
 * server can do. One thread, level-triggered, a 4 KiB input buffer per connection
 * (holds a request split across reads), requests framed by "\r\n\r\n" only, and every
 * response of one read sent with one send(). Only what the kernel does not take is
 * kept, and the connection is not read again until that is out.
 * Usage: epoll_http --port P */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP 4096
#define MAX_FD 65536

struct conn {
    size_t len, pend_len;
    char* pend;
    char in[IN_CAP];
};
static struct conn* conns[MAX_FD];

static char ok[160];
static size_t ok_len;
static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
static time_t ok_time;

static void refresh_date(void) {
    time_t now = time(NULL);
    if (now == ok_time) return;
    ok_time = now;
    struct tm tm;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    ok_len = (size_t)snprintf(ok, sizeof ok,
                              "HTTP/1.1 200 OK\r\nServer: epoll\r\nDate: %s\r\n"
                              "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
                              date);
}

/* At most IN_CAP / 4 requests fit in one read, each answered with at most sizeof ok. */
static char out[IN_CAP / 4 * sizeof ok];

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]->pend);
    free(conns[fd]);
    conns[fd] = NULL;
}

static void watch(int ep, int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void on_readable(int ep, int fd) {
    struct conn* c = conns[fd];
    ssize_t r = recv(fd, c->in + c->len, IN_CAP - c->len, 0);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        return drop(ep, fd);
    }
    c->len += (size_t)r;
    size_t n = 0, start = 0;
    char* end;
    while ((end = memmem(c->in + start, c->len - start, "\r\n\r\n", 4))) {
        int hit = end - (c->in + start) >= 15 && !memcmp(c->in + start, "GET /plaintext ", 15);
        memcpy(out + n, hit ? ok : not_found, hit ? ok_len : sizeof not_found - 1);
        n += hit ? ok_len : sizeof not_found - 1;
        start = (size_t)(end - c->in) + 4;
    }
    memmove(c->in, c->in + start, c->len - start);
    c->len -= start;
    if (c->len == IN_CAP) return drop(ep, fd); /* a 4 KiB request head: not from wrk */
    if (!n) return;
    ssize_t w = send(fd, out, n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return drop(ep, fd);
    if (w < 0) w = 0;
    if ((size_t)w < n) {
        c->pend_len = n - (size_t)w;
        c->pend = malloc(c->pend_len);
        memcpy(c->pend, out + w, c->pend_len);
        watch(ep, fd, EPOLLOUT);
    }
}

static void on_writable(int ep, int fd) {
    struct conn* c = conns[fd];
    ssize_t w = send(fd, c->pend, c->pend_len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return drop(ep, fd);
    if (w <= 0) return;
    c->pend_len -= (size_t)w;
    memmove(c->pend, c->pend + w, c->pend_len);
    if (c->pend_len) return;
    free(c->pend);
    c->pend = NULL;
    watch(ep, fd, EPOLLIN);
}

int main(int argc, char** argv) {
    int port = 8080;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (bind(ls, (struct sockaddr*)&sa, sizeof sa) || listen(ls, 1024)) {
        perror("epoll_http");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        refresh_date(); /* time() is a vDSO call: once per wake-up is free */
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAX_FD) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[c] = calloc(1, sizeof(struct conn));
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
            } else if (conns[fd] && conns[fd]->pend) {
                on_writable(ep, fd);
            } else if (conns[fd]) {
                on_readable(ep, fd);
            }
        }
    }
}
