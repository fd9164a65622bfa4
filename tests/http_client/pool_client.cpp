// Drives http::client against real peers for tests/http_client/run.sh (Linux: it reads its
// own memory use from /proc/self/status).
//
//   pool_client get URL N CONCURRENCY LIMIT [CA]   N GETs, CONCURRENCY at a time, LIMIT
//                                             per origin; https:// trusting the CA file
//   pool_client resume URL CA                 one GET, then another from a second client
//                                             sharing the TLS context (which resumes)
//   pool_client download URL SIZE             streams SIZE bytes, checks byte i == i % 251
//   pool_client upload URL SIZE               streams SIZE bytes up (POST, chunked)
// Prints what it did and "rss_growth_kib=N" (peak resident size minus the size at start);
// exits non-zero on any error.
// https:// needs the OpenSSL adapter (SLUICE_WITH_OPENSSL, which tests/CMakeLists.txt
// defines when it builds the TLS tests).
#include <sluice.hpp>
#if SLUICE_WITH_OPENSSL
#include <sluice/tls/openssl.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

namespace http = sluice::http;

namespace {

long status_kib(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::string(field).size() + 1);
    return -1;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "pool_client: %s\n", what.c_str());
    return 1;
}

// A verifying client context trusting ca_file, or nullptr (said on stderr) without OpenSSL.
std::shared_ptr<sluice::tls::context> trusting(const char* ca_file) {
#if SLUICE_WITH_OPENSSL
    auto c = sluice::tls::openssl::client_context::create();
    if (c->add_ca_file(ca_file)) {
        fail(c->last_error());
        return nullptr;
    }
    return c;
#else
    (void)ca_file;
    fail("built without SLUICE_WITH_OPENSSL: no https://");
    return nullptr;
#endif
}

// Runs the loop until done() holds; in slices, because run_once() can run the last handler
// at the start of its turn and then block on a loop with nothing more to do.
template <class Pred>
void run_until(sluice::loop& loop, Pred done) {
    while (!done()) loop.run_for(std::chrono::milliseconds(20));
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) return fail("usage: pool_client get|download|upload URL ...");
    std::string mode = argv[1], url = argv[2];
    sluice::loop loop;
    long rss_start = status_kib("VmRSS:");
    int errors = 0;

    if (mode == "get" && (argc == 6 || argc == 7)) {
        int total = std::atoi(argv[3]), concurrency = std::atoi(argv[4]);
        http::client_settings s;
        s.max_connections_per_origin = static_cast<std::size_t>(std::atoi(argv[5]));
        if (argc == 7 && !(s.tls = trusting(argv[6]))) return 1;
        http::client c(loop, s);
        int started = 0, done = 0;
        std::function<void()> next = [&] {
            int n = started++;
            c.get(url + "?n=" + std::to_string(n), [&, n](std::error_code ec, http::client_response r) {
                ++done;
                if (ec || r.status != 200 || r.body != "answer " + std::to_string(n)) {
                    ++errors;
                    std::fprintf(stderr, "request %d: %s status %u\n", n, ec.message().c_str(), r.status);
                }
                if (started < total) next();
            });
        };
        for (int i = 0; i < concurrency && started < total; ++i) next();
        run_until(loop, [&] { return done >= total; });
        std::printf("requests=%d errors=%d connections_opened=%llu\n", done, errors,
                    static_cast<unsigned long long>(c.connections_opened()));
    } else if (mode == "resume") {
        http::client_settings s;
        if (!(s.tls = trusting(argv[3]))) return 1;
        for (int n = 0; n < 2; ++n) { // a client each: the second connects anew
            http::client c(loop, s);
            bool finished = false;
            c.get(url + "?n=" + std::to_string(n), [&, n](std::error_code ec, http::client_response r) {
                finished = true;
                if (ec || r.status != 200 || r.body != "answer " + std::to_string(n)) {
                    ++errors;
                    std::fprintf(stderr, "request %d: %s status %u\n", n, ec.message().c_str(), r.status);
                }
            });
            run_until(loop, [&] { return finished; });
        }
        std::printf("requests=2 errors=%d\n", errors);
    } else if (mode == "download") {
        std::uint64_t size = std::strtoull(argv[3], nullptr, 10), got = 0, bad = 0;
        http::client c(loop);
        http::client_request r;
        r.url = url;
        r.on_body = [&](std::string_view piece) {
            for (char ch : piece)
                if (static_cast<unsigned char>(ch) != got++ % 251) ++bad;
        };
        bool finished = false;
        c.request(std::move(r), [&](std::error_code ec, http::client_response res) {
            finished = true;
            if (ec || res.status != 200) {
                ++errors;
                std::fprintf(stderr, "download: %s status %u\n", ec.message().c_str(), res.status);
            }
        });
        run_until(loop, [&] { return finished; });
        if (got != size || bad != 0) ++errors;
        std::printf("downloaded=%llu bad=%llu\n", static_cast<unsigned long long>(got),
                    static_cast<unsigned long long>(bad));
    } else if (mode == "upload") {
        std::uint64_t size = std::strtoull(argv[3], nullptr, 10), sent = 0;
        http::client c(loop);
        http::client_request r;
        r.method = "POST";
        r.url = url;
        r.producer = [&](std::string& piece) {
            std::uint64_t n = std::min<std::uint64_t>(64 * 1024, size - sent);
            piece.resize(static_cast<std::size_t>(n));
            for (std::uint64_t i = 0; i < n; ++i) piece[i] = static_cast<char>((sent + i) % 251);
            sent += n;
            return sent < size;
        };
        bool finished = false;
        std::string answer;
        c.request(std::move(r), [&](std::error_code ec, http::client_response res) {
            finished = true;
            answer = res.body;
            if (ec || res.status != 200) {
                ++errors;
                std::fprintf(stderr, "upload: %s status %u\n", ec.message().c_str(), res.status);
            }
        });
        run_until(loop, [&] { return finished; });
        std::printf("uploaded=%llu answer=%s\n", static_cast<unsigned long long>(sent), answer.c_str());
    } else {
        return fail("unknown mode or arguments");
    }
    std::printf("rss_growth_kib=%ld\n", status_kib("VmHWM:") - rss_start);
    return errors ? 1 : 0;
}
