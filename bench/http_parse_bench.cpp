// http_parse_bench FILE [SECONDS]
// Parses the back-to-back requests in FILE over and over for SECONDS (default 3)
// with sluice::http::parser and prints throughput. Compare with
// http_parser_peer_bench.c (same loop over Debian's http-parser); see http_parse.sh.
#include <sluice/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace http = sluice::http;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE [SECONDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
    std::ifstream f(argv[1], std::ios::binary);
    std::string buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (buf.empty()) {
        std::fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }

    http::message_storage<64> msg;
    http::parser p(http::parser::request, msg);
    std::uint64_t bytes = 0, requests = 0, headers = 0, body = 0;
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    double elapsed = 0;
    do {
        for (int pass = 0; pass < 64; ++pass) {
            std::size_t off = 0;
            for (;;) {
                http::result r = p.feed(buf.data() + off, buf.size() - off);
                off += r.consumed;
                if (r.ev == http::event::need_more) break;
                if (r.ev == http::event::head)
                    headers += msg.num_headers;
                else if (r.ev == http::event::body)
                    body += r.data.size();
                else if (r.ev == http::event::done)
                    ++requests;
                else if (r.ev == http::event::upgrade)
                    p.reset();
                else if (r.ev == http::event::error) {
                    std::fprintf(stderr, "parse error at %zu: %s\n", off,
                                 p.error().message().c_str());
                    return 1;
                }
            }
            if (off != buf.size()) {
                std::fprintf(stderr, "trailing bytes at %zu\n", off);
                return 1;
            }
            bytes += buf.size();
        }
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < seconds);

    std::printf("sluice::http::parser  sizeof=%zu  (headers=%llu body=%llu)\n",
                sizeof(http::parser), static_cast<unsigned long long>(headers),
                static_cast<unsigned long long>(body));
    std::printf("MB/s: %.1f\n", static_cast<double>(bytes) / elapsed / 1e6);
    std::printf("requests/s: %.0f\n", static_cast<double>(requests) / elapsed);
    return 0;
}
