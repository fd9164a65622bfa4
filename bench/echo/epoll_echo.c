#define _GNU_SOURCE
/* The physical-limit reference: the least an epoll echo server can do. One thread,
 * level-triggered, one static read buffer, write straight back; only the bytes the
 * kernel did not take are kept per connection. Usage: epoll_echo --port P */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

struct pending { char* data; size_t len; };
static struct pending pend[65536];

int main(int argc, char** argv) {
    int port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (bind(ls, (struct sockaddr*)&sa, sizeof sa) || listen(ls, 511)) { perror("epoll_echo"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[65536];
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0 && c < 65536) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && pend[fd].len) {
                ssize_t w = send(fd, pend[fd].data, pend[fd].len, MSG_NOSIGNAL);
                if (w > 0) {
                    memmove(pend[fd].data, pend[fd].data + w, pend[fd].len - (size_t)w);
                    pend[fd].len -= (size_t)w;
                }
                if (!pend[fd].len) {
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                }
                continue;
            }
            if (pend[fd].len) continue; /* backpressure: read once the backlog is out */
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                free(pend[fd].data);
                pend[fd].data = NULL;
                pend[fd].len = 0;
                close(fd);
                continue;
            }
            ssize_t w = send(fd, buf, (size_t)r, MSG_NOSIGNAL);
            if (w < 0) w = 0;
            if (w < r) {
                pend[fd].data = realloc(pend[fd].data, (size_t)(r - w));
                memcpy(pend[fd].data, buf + w, (size_t)(r - w));
                pend[fd].len = (size_t)(r - w);
                struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
            }
        }
    }
}
