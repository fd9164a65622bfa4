#define _GNU_SOURCE
/* libuv plaintext peer, written the efficient way libuv allows: alloc_cb hands out the
 * free end of a 4 KiB buffer per connection (so a request split across reads needs no
 * copy), requests are framed by "\r\n\r\n", all responses of one read are built in one
 * static buffer and sent with uv_try_write; only what the kernel does not take is copied
 * into a uv_write, and reading pauses until it is out. The Date header is rebuilt by a
 * 1 s timer. Usage: uv_http --port P */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define IN_CAP 4096

struct conn {
    uv_tcp_t tcp; /* first: a uv_handle_t* is a struct conn* */
    size_t len;
    char in[IN_CAP];
};
struct wr {
    uv_write_t req;
    uv_buf_t buf;
};

static char ok[160];
static size_t ok_len;
static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
static char out[IN_CAP / 4 * sizeof ok]; /* at most IN_CAP / 4 requests per read */

static void refresh_date(uv_timer_t* t) {
    (void)t;
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    ok_len = (size_t)snprintf(ok, sizeof ok,
                              "HTTP/1.1 200 OK\r\nServer: libuv\r\nDate: %s\r\n"
                              "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
                              date);
}

static void on_alloc(uv_handle_t* h, size_t size, uv_buf_t* b) {
    (void)size;
    struct conn* c = (struct conn*)h;
    *b = uv_buf_init(c->in + c->len, (unsigned)(IN_CAP - c->len));
}
static void on_close(uv_handle_t* h) { free(h); }
static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* b);

static void on_written(uv_write_t* req, int status) {
    struct wr* w = (struct wr*)req;
    uv_stream_t* s = req->handle;
    free(w->buf.base);
    free(w);
    if (status == 0 && !uv_is_closing((uv_handle_t*)s)) uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* b) {
    (void)b;
    struct conn* c = (struct conn*)s;
    if (nread < 0) return uv_close((uv_handle_t*)s, on_close);
    c->len += (size_t)nread;
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
    if (c->len == IN_CAP) return uv_close((uv_handle_t*)s, on_close); /* not from wrk */
    if (!n) return;
    uv_buf_t all = uv_buf_init(out, (unsigned)n);
    int done = uv_try_write(s, &all, 1);
    if (done == UV_EAGAIN) done = 0;
    if (done < 0) return uv_close((uv_handle_t*)s, on_close);
    if ((size_t)done == n) return;
    struct wr* w = malloc(sizeof *w);
    w->buf = uv_buf_init(malloc(n - (size_t)done), (unsigned)(n - (size_t)done));
    memcpy(w->buf.base, out + done, n - (size_t)done);
    uv_read_stop(s);
    uv_write(&w->req, s, &w->buf, 1, on_written);
}

static void on_connection(uv_stream_t* server, int status) {
    if (status < 0) return;
    struct conn* c = calloc(1, sizeof *c);
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t*)c)) return uv_close((uv_handle_t*)c, on_close);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t*)c, on_alloc, on_read);
}

int main(int argc, char** argv) {
    int port = 8080;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t* loop = uv_default_loop();
    uv_timer_t date;
    uv_timer_init(loop, &date);
    refresh_date(&date);
    uv_timer_start(&date, refresh_date, 1000, 1000);
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("0.0.0.0", port, &addr);
    int err = uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0);
    if (!err) err = uv_listen((uv_stream_t*)&server, 1024, on_connection);
    if (err) {
        fprintf(stderr, "uv_http: port %d: %s\n", port, uv_strerror(err));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
