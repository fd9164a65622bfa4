/* http_parser_peer_bench FILE [SECONDS]
 * The same measurement as http_parse_bench.cpp, with Debian's http-parser
 * (libhttp-parser-dev, link -lhttp_parser). The callbacks do the minimum a real
 * user does: note where each span is. */
#include <http_parser.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long requests, headers, body_bytes;
static const char* last_at;
static size_t last_len;

static int on_span(http_parser* p, const char* at, size_t len) {
    (void)p;
    last_at = at;
    last_len = len;
    return 0;
}
static int on_value(http_parser* p, const char* at, size_t len) {
    (void)p;
    last_at = at;
    last_len = len;
    ++headers;
    return 0;
}
static int on_body(http_parser* p, const char* at, size_t len) {
    (void)p;
    (void)at;
    body_bytes += len;
    return 0;
}
static int on_complete(http_parser* p) {
    (void)p;
    ++requests;
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [SECONDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    FILE* f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    static char buf[1 << 22];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);

    http_parser_settings s;
    memset(&s, 0, sizeof s);
    s.on_url = on_span;
    s.on_header_field = on_span;
    s.on_header_value = on_value;
    s.on_body = on_body;
    s.on_message_complete = on_complete;

    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    unsigned long long bytes = 0;
    double start = now(), elapsed = 0;
    do {
        for (int pass = 0; pass < 64; ++pass) {
            size_t off = 0;
            while (off < len) {
                size_t n = http_parser_execute(&p, &s, buf + off, len - off);
                off += n;
                if (p.upgrade) {
                    http_parser_init(&p, HTTP_REQUEST);
                } else if (off != len) {
                    fprintf(stderr, "parse error at %zu: %s\n", off,
                            http_errno_name(HTTP_PARSER_ERRNO(&p)));
                    return 1;
                }
            }
            bytes += len;
        }
        elapsed = now() - start;
    } while (elapsed < seconds);

    printf("http-parser %lu.%lu.%lu  sizeof=%zu  (headers=%llu body=%llu)\n",
           (http_parser_version() >> 16) & 255, (http_parser_version() >> 8) & 255,
           http_parser_version() & 255, sizeof(http_parser), headers, body_bytes);
    printf("MB/s: %.1f\n", (double)bytes / elapsed / 1e6);
    printf("requests/s: %.0f\n", (double)requests / elapsed);
    return 0;
}
