#define _GNU_SOURCE
/* libevent plaintext peer on bufferevents: requests framed by "\r\n\r\n" in the input
 * evbuffer, all responses of one read appended to the output evbuffer in one call, which
 * libevent then writes. The Date header is rebuilt by a 1 s timer.
 *
 * Why bufferevent and not evhttp: the other peers (epoll, libuv, asio) put the same
 * "\r\n\r\n" framing on an I/O layer, so libevent is measured at the same layer. evhttp
 * would add its own parser, a heap-allocated request with header lists per request, and
 * one request at a time per connection (the next pipelined request is parsed only once
 * the previous response is written out): that measures libevent's HTTP module, which
 * compares with sluice's http::server or nginx, and libuv and asio have no counterpart.
 * Usage: event_http --port P */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define IN_CAP 4096

static char ok[160];
static size_t ok_len;
static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

static void refresh_date(evutil_socket_t fd, short what, void* arg) {
    (void)fd, (void)what, (void)arg;
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    ok_len = (size_t)snprintf(ok, sizeof ok,
                              "HTTP/1.1 200 OK\r\nServer: libevent\r\nDate: %s\r\n"
                              "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
                              date);
}

static char out[IN_CAP / 4 * sizeof ok]; /* the read watermark keeps the input <= IN_CAP */

static void on_read(struct bufferevent* bev, void* ctx) {
    (void)ctx;
    struct evbuffer* in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in), n = 0, start = 0;
    char* p = (char*)evbuffer_pullup(in, -1); /* one chain already, unless a request split */
    char* end;
    while ((end = memmem(p + start, len - start, "\r\n\r\n", 4))) {
        int hit = end - (p + start) >= 15 && !memcmp(p + start, "GET /plaintext ", 15);
        memcpy(out + n, hit ? ok : not_found, hit ? ok_len : sizeof not_found - 1);
        n += hit ? ok_len : sizeof not_found - 1;
        start = (size_t)(end - p) + 4;
    }
    evbuffer_drain(in, start);
    if (len - start >= IN_CAP) return bufferevent_free(bev); /* a 4 KiB request head */
    struct evbuffer* output = bufferevent_get_output(bev);
    evbuffer_add(output, out, n);
    if (evbuffer_get_length(output) > 65536) bufferevent_disable(bev, EV_READ); /* backpressure */
}
static void on_drained(struct bufferevent* bev, void* ctx) {
    (void)ctx;
    /* Called each time the output is empty (the write low watermark is 0). */
    if (!(bufferevent_get_enabled(bev) & EV_READ)) bufferevent_enable(bev, EV_READ);
}
static void on_event(struct bufferevent* bev, short events, void* ctx) {
    (void)ctx;
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}
static void on_accept(struct evconnlistener* l, evutil_socket_t fd, struct sockaddr* a, int len,
                      void* ctx) {
    (void)a, (void)len, (void)ctx;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct bufferevent* bev =
        bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, on_read, on_drained, on_event, NULL);
    bufferevent_setwatermark(bev, EV_READ, 0, IN_CAP);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int main(int argc, char** argv) {
    int port = 8080;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN);
    struct event_base* base = event_base_new();
    refresh_date(0, 0, NULL);
    struct event* date = event_new(base, -1, EV_PERSIST, refresh_date, NULL);
    struct timeval second = {1, 0};
    event_add(date, &second);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    struct evconnlistener* l =
        evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                1024, (struct sockaddr*)&sin, sizeof sin);
    if (!l) {
        perror("event_http");
        return 1;
    }
    return event_base_dispatch(base);
}
