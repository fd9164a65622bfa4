/* libuv echo peer, written the efficient way libuv allows: one static read buffer
 * (alloc_cb hands out the same 64 KiB), uv_try_write first, and a uv_write with a
 * copy only for what the kernel did not take. Usage: uv_echo --port P */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char buf[65536];
struct wr { uv_write_t req; uv_buf_t b; };

static void on_alloc(uv_handle_t* h, size_t s, uv_buf_t* b) { (void)h; (void)s; *b = uv_buf_init(buf, sizeof buf); }
static void on_close(uv_handle_t* h) { free(h); }
static void on_written(uv_write_t* req, int status) {
    struct wr* w = (struct wr*)req;
    (void)status;
    free(w->b.base);
    free(w);
}
static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    if (n < 0) { uv_close((uv_handle_t*)s, on_close); return; }
    if (n == 0) return;
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    int done = uv_try_write(s, &out, 1);
    if (done < 0) done = 0;
    if (done < n) {
        struct wr* w = malloc(sizeof *w);
        w->b = uv_buf_init(malloc((size_t)(n - done)), (unsigned)(n - done));
        memcpy(w->b.base, b->base + done, (size_t)(n - done));
        uv_write(&w->req, s, &w->b, 1, on_written);
    }
}
static void on_conn(uv_stream_t* server, int status) {
    if (status < 0) return;
    uv_tcp_t* c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t*)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t*)c, on_alloc, on_read);
    } else uv_close((uv_handle_t*)c, on_close);
}
int main(int argc, char** argv) {
    int port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN); /* a client hanging up must not kill the server */
    uv_loop_t* loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("0.0.0.0", port, &addr);
    uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0);
    if (uv_listen((uv_stream_t*)&server, 511, on_conn)) return 1;
    return uv_run(loop, UV_RUN_DEFAULT);
}
