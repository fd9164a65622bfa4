// The balancer's command line (flags in balancer.hpp's header comment) and main().
#include "balancer.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace balancer_app;

namespace {

bool parse_number(const char* s, long long lo, long long hi, long long& out) {
    if (!*s) return false;
    char* end = nullptr;
    long long v = std::strtoll(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    out = v;
    return true;
}

// "HOST:PORT" or "[V6]:PORT"; HOST may be a name (resolved once, at start).
bool parse_host_port(std::string_view text, sluice::endpoint& out) {
    std::string host;
    std::string_view port;
    if (!text.empty() && text[0] == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
    }
    long long p = 0;
    if (host.empty() || !parse_number(std::string(port).c_str(), 1, 65535, p)) return false;
    std::error_code ec;
    out = sluice::endpoint::parse(host, static_cast<std::uint16_t>(p), ec);
    if (!ec) return true;
    std::vector<sluice::endpoint> found =
        sluice::resolve_now(host, static_cast<std::uint16_t>(p), SOCK_STREAM, ec);
    if (ec || found.empty()) return false;
    out = found.front();
    return true;
}

bool parse_args(int argc, char** argv, options& o) {
    bool have_listen = false, have_mode = false, have_policy = false, have_interval = false;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return false;
        std::string_view flag = argv[i];
        const char* value = argv[i + 1];
        long long n = 0;
        if (flag == "--listen") {
            std::string_view v = value;
            if (v.find(':') == std::string_view::npos) {
                if (!parse_number(value, 1, 65535, n)) return false;
                o.listen = sluice::endpoint::any_v4(static_cast<std::uint16_t>(n));
            } else if (!parse_host_port(v, o.listen)) {
                return false;
            }
            have_listen = true;
        } else if (flag == "--mode") {
            std::string_view v = value;
            if (v != "tcp" && v != "http") return false;
            o.run_mode = v == "tcp" ? mode::tcp : mode::http;
            have_mode = true;
        } else if (flag == "--policy") {
            std::string_view v = value;
            if (v == "rr")
                o.pick_policy = policy::rr;
            else if (v == "wrr")
                o.pick_policy = policy::wrr;
            else if (v == "least")
                o.pick_policy = policy::least;
            else if (v == "iphash")
                o.pick_policy = policy::iphash;
            else
                return false;
            have_policy = true;
        } else if (flag == "--backend") {
            std::string_view v = value;
            backend b;
            std::size_t eq = v.find('=');
            if (eq != std::string_view::npos) {
                if (!parse_number(std::string(v.substr(eq + 1)).c_str(), 1, 1000, n)) return false;
                b.weight = static_cast<int>(n);
                v = v.substr(0, eq);
            }
            if (!parse_host_port(v, b.address)) return false;
            b.name = std::string(v);
            o.backends.push_back(std::move(b));
        } else if (flag == "--health-interval") {
            if (!parse_number(value, 1, 3600 * 1000, o.health_interval_ms)) return false;
            have_interval = true;
        } else if (flag == "--drain-timeout") {
            if (!parse_number(value, 0, 3600 * 1000, o.drain_timeout_ms)) return false;
        } else if (flag == "--upstream-idle") { // 0: every upstream connection closes
            if (!parse_number(value, 0, 100000, o.upstream_idle)) return false;
        } else if (flag == "--tls-cert") {
            o.tls_cert.push_back(value);
        } else if (flag == "--tls-key") {
            o.tls_key.push_back(value);
        } else if (flag == "--redirect-http") {
            if (!parse_number(value, 1, 65535, o.redirect_http_port)) return false;
        } else if (flag == "--upstream-idle-timeout") {
            if (!parse_number(value, 1, 3600 * 1000, o.upstream_idle_timeout_ms)) return false;
        } else {
            return false;
        }
    }
    return have_listen && have_mode && have_policy && have_interval && !o.backends.empty();
}

// The TLS flags that cannot work together (exit 2, like a usage error), or null.
const char* tls_flags_problem(const options& o) {
    if (o.tls_cert.size() != o.tls_key.size())
        return "--tls-cert and --tls-key go together, one of each per certificate";
    if (!o.tls_cert.empty()) {
#if !defined(SLUICE_WITH_OPENSSL)
        return "--tls-cert/--tls-key: built without TLS (configure with -DSLUICE_WITH_OPENSSL=ON)";
#endif
        if (o.run_mode != mode::http) return "--tls-cert/--tls-key need --mode http";
    }
    if (o.redirect_http_port) {
        if (o.tls_cert.empty()) return "--redirect-http needs --tls-cert/--tls-key";
        if (o.redirect_http_port == o.listen.port())
            return "--redirect-http needs a port other than --listen's";
    }
    return nullptr;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    if (!parse_args(argc, argv, opt)) {
        std::fprintf(stderr, "usage: balancer --listen [HOST:]PORT --mode tcp|http "
                             "--policy rr|wrr|least|iphash\n"
                             "                --backend HOST:PORT[=WEIGHT] [--backend ...] "
                             "--health-interval MS [--drain-timeout MS]\n"
                             "                [--upstream-idle N] [--upstream-idle-timeout MS]\n"
                             "                [--tls-cert FILE --tls-key FILE [...]] "
                             "[--redirect-http PORT]   (TLS: http mode only)\n");
        return 2;
    }
    if (const char* why = tls_flags_problem(opt)) {
        std::fprintf(stderr, "balancer: %s\n", why);
        return 2;
    }
    std::shared_ptr<sluice::tls::context> tls;
    if (!opt.tls_cert.empty()) {
        std::string error;
        tls = make_tls_context(opt, error);
        if (!tls) {
            std::fprintf(stderr, "balancer: TLS: %s\n", error.c_str());
            return 1;
        }
    }
    sluice::loop loop;
    if (auto ec = loop.status()) {
        std::fprintf(stderr, "balancer: %s\n", ec.message().c_str());
        return 1;
    }
    balancer lb(loop, std::move(opt));
    lb.tls = std::move(tls);
    if (auto ec = lb.start()) {
        std::fprintf(stderr, "balancer: listen on %s: %s\n", lb.opt.listen.to_string().c_str(),
                     ec.message().c_str());
        return 1;
    }
    if (lb.opt.redirect_http_port) {
        if (auto ec = start_redirect(lb)) {
            std::fprintf(stderr, "balancer: --redirect-http: listen on port %lld: %s\n",
                         lb.opt.redirect_http_port, ec.message().c_str());
            return 1;
        }
        std::fprintf(stderr, "balancer: port %lld redirects to https on port %u\n",
                     lb.opt.redirect_http_port, lb.opt.listen.port());
    }
    auto on_stop_signal = [&lb](int) {
        if (lb.draining)
            lb.finish(); // a second signal: stop now
        else
            lb.begin_drain();
    };
    loop.on_signal(SIGINT, on_stop_signal);
    loop.on_signal(SIGTERM, on_stop_signal); // not supported on Windows: Ctrl-C only
    std::fprintf(stderr, "balancer: listening on %s, mode %s, %zu backend(s)\n",
                 lb.opt.listen.to_string().c_str(),
                 lb.opt.run_mode == mode::tcp ? "tcp" : lb.tls ? "http (HTTPS)" : "http",
                 lb.backends.size());
    loop.run();
    lb.stopped = true;
    // Close what is left and run the aborted completions, so every session is freed.
    loop.shutdown(milliseconds(0));
    lb.print_stats();
    return 0;
}
