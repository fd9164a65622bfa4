// HTTP "hello world" following the TechEmpower plaintext rules: GET /plaintext
// answers 200 text/plain "Hello, World!" with Server and Date headers, keep-alive
// and pipelining; anything else is 404. With --threads N it runs N loops on N
// threads (a sluice::loop_group, one http::server per loop), spread as in
// echo_server: --spread reuseport|acceptor, --policy rr|least. SIGINT and SIGTERM
// stop it. With --proxy-protocol on, every connection must start with a PROXY v1/v2
// header (from HAProxy or nginx in front of it), and GET /client answers the client
// address that header named. With --routes N the same two answers come through an
// http::router holding N routes (the other N - 2 are decoys shaped like a REST API's,
// with parameters and a wildcard), so bench/http can price routing against the plain
// handler on identical traffic. With --tls-cert FILE --tls-key FILE (PEM) it serves HTTPS
// on --port instead (ALPN http/1.1); that needs a build with SLUICE_WITH_OPENSSL (CMake
// -DSLUICE_WITH_OPENSSL=ON), without which it refuses to start.
//
//   http_hello [--port 8080] [--threads 1] [--backend epoll|io_uring|poll|select]
//              [--spread reuseport|acceptor] [--policy rr|least] [--proxy-protocol on]
//              [--routes N] [--tls-cert FILE --tls-key FILE] [--tls-adapter openssl|mbedtls]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace http = sluice::http;

static void not_found(http::response& res) {
    res.status(404).header("Content-Type", "text/plain").end("Not Found\n");
}

static void handle(const http::request_view& req, http::response& res) {
    if (req.path() == "/plaintext" &&
        (req.verb() == http::verb::get || req.verb() == http::verb::head)) {
        res.header("Content-Type", "text/plain").end("Hello, World!");
        return;
    }
    if (req.path() == "/client" && req.verb() == http::verb::get) {
        res.header("Content-Type", "text/plain").end(req.client().address());
        return;
    }
    not_found(res);
}

// The router behind --routes: /plaintext and /client as in handle(), and decoys of the
// shapes a REST API has (/api/v1/r7/{id}, /api/v1/r7/{id}/items/{item}, /static/r7/{path...})
// until there are `count` routes. Errors answer as handle() does (plain 404 text).
static http::router make_router(int count) {
    http::router r;
    r.get("/plaintext", [](http::route_request&, http::response& res) {
        res.header("Content-Type", "text/plain").end("Hello, World!");
    });
    r.get("/client", [](http::route_request& req, http::response& res) {
        res.header("Content-Type", "text/plain").end(req.client().address());
    });
    auto decoy = [](http::route_request&, http::response& res) { res.end("decoy"); };
    for (int k = 0; 2 + k < count; ++k) {
        const std::string base = "/api/v1/r" + std::to_string(k / 3);
        switch (k % 3) {
        case 0: r.get(base + "/{id}", decoy); break;
        case 1: r.post(base + "/{id}/items/{item}", decoy); break;
        default: r.get("/static/r" + std::to_string(k / 3) + "/{path...}", decoy); break;
        }
    }
    r.on_error([](http::route_request&, http::response& res, unsigned) { not_found(res); });
    return r;
}

// An HTTPS server context on either adapter (they share these setters): the certificates
// in order (the first is the default, the others chosen by SNI) and ALPN http/1.1; null,
// with the library's words on stderr, when one does not load.
template <class Context>
std::shared_ptr<sluice::tls::context> https_context(const std::vector<std::string>& certs,
                                                    const std::vector<std::string>& keys) {
    auto ctx = Context::create();
    for (std::size_t i = 0; i < certs.size(); ++i) {
        if (ctx->add_certificate_files(certs[i], keys[i])) {
            std::fprintf(stderr, "http_hello: %s\n", ctx->last_error().c_str());
            return nullptr;
        }
    }
    ctx->set_alpn({"http/1.1"});
    return ctx;
}

int main(int argc, char** argv) {
    std::uint16_t port = 8080;
    sluice::backend backend = sluice::backend::automatic;
    sluice::group_listen_options opt;
    int threads = 1;
    int routes = 0; // 0: the plain handler
    http::server_settings settings;
    // --tls-cert/--tls-key pairs: the first is the default certificate, the others are
    // chosen by the name the client asks for (SNI).
    std::vector<std::string> tls_cert, tls_key;
    std::string tls_adapter = "openssl"; // or "mbedtls", when built with it
    for (int i = 1; i < argc; i += 2) {
        const char* value = i + 1 < argc ? argv[i + 1] : "";
        if (!std::strcmp(argv[i], "--port") && *value)
            port = static_cast<std::uint16_t>(std::atoi(value));
        else if (!std::strcmp(argv[i], "--threads") && *value)
            threads = std::atoi(value);
        else if (!std::strcmp(argv[i], "--routes") && *value)
            routes = std::atoi(value);
        else if (!std::strcmp(argv[i], "--tls-cert") && *value)
            tls_cert.push_back(value);
        else if (!std::strcmp(argv[i], "--tls-key") && *value)
            tls_key.push_back(value);
        else if (!std::strcmp(argv[i], "--tls-adapter") && *value)
            tls_adapter = value;
        else if (!std::strcmp(argv[i], "--proxy-protocol") && !std::strcmp(value, "on"))
            settings.proxy_protocol = true;
        else if (!(!std::strcmp(argv[i], "--backend") && sluice::parse_backend(value, backend)) &&
                 !(!std::strcmp(argv[i], "--spread") && sluice::parse_spread(value, opt.spread)) &&
                 !(!std::strcmp(argv[i], "--policy") && sluice::parse_policy(value, opt.policy))) {
            std::fprintf(stderr, "usage: http_hello [--port P] [--threads N] "
                                 "[--backend epoll|io_uring|poll|select] [--spread reuseport|acceptor] "
                                 "[--policy rr|least] [--proxy-protocol on] [--routes N] "
                                 "[--tls-cert FILE --tls-key FILE] [--tls-adapter openssl|mbedtls]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    if (tls_cert.size() != tls_key.size()) {
        std::fprintf(stderr, "http_hello: --tls-cert and --tls-key go together\n");
        return 2;
    }
    // The TLS context, shared by every loop (both adapters' are thread-safe).
    std::shared_ptr<sluice::tls::context> tls;
    if (!tls_cert.empty()) {
        bool built = false;
#if defined(SLUICE_WITH_OPENSSL)
        if (tls_adapter == "openssl") {
            built = true;
            tls = https_context<sluice::tls::openssl::server_context>(tls_cert, tls_key);
        }
#endif
#if defined(SLUICE_WITH_MBEDTLS)
        if (tls_adapter == "mbedtls") {
            built = true;
            tls = https_context<sluice::tls::mbedtls::server_context>(tls_cert, tls_key);
        }
#endif
        if (!built) {
            std::fprintf(stderr, "http_hello: TLS adapter %s is not built in (configure with "
                                 "-DSLUICE_WITH_OPENSSL=ON or -DSLUICE_WITH_MBEDTLS=ON)\n",
                         tls_adapter.c_str());
            return 2;
        }
        if (!tls) return 1;
    }

    sluice::loop_group group(static_cast<std::size_t>(threads), backend);
    if (auto ec = group.status()) {
        std::fprintf(stderr, "http_hello: backend %s: %s\n", sluice::to_string(backend),
                     ec.message().c_str());
        return 1;
    }
    // One server per loop: a connection is served by the server of the loop it is on.
    std::vector<std::unique_ptr<http::server>> servers;
    for (std::size_t i = 0; i < group.size(); ++i) {
        servers.push_back(std::make_unique<http::server>(group.at(i), settings));
        if (routes < 2) {
            servers.back()->on_request(handle);
            continue;
        }
        http::router r = make_router(routes); // one per loop: a router's state is one loop's
        if (auto ec = r.error()) {
            std::fprintf(stderr, "http_hello: routes: %s\n", ec.message().c_str());
            return 1;
        }
        r.attach(*servers.back());
    }
    auto on_connection = [&](sluice::tcp_stream s) {
        http::server* srv = servers[group.index_of(s.get_loop())].get();
        if (!tls) return srv->serve(std::move(s));
        // HTTPS: the server gets the stream once its handshake is done; a failed one
        // (a plain-HTTP client, garbage, a stall past the timeout) just closes.
        sluice::tls_accept(std::move(s), tls, [srv](std::error_code ec, sluice::tls_stream t) {
            if (!ec) srv->serve(std::move(t));
        });
    };
    if (auto ec = group.listen(sluice::endpoint::any_v4(port), on_connection, opt)) {
        std::fprintf(stderr, "http_hello: listen on port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    group.at(0).on_signal(SIGINT, [&](int) { group.stop(); });
    group.at(0).on_signal(SIGTERM, [&](int) { group.stop(); });
    std::printf("http_hello: listening on port %u%s, backend %s, %d thread(s)\n", port,
                tls ? " (HTTPS)" : "", group.at(0).backend_name(), threads);
    // Asked for io_uring where the kernel refuses it: say so, and why.
    if (!group.at(0).backend_note().empty())
        std::printf("http_hello: %s\n", group.at(0).backend_note().c_str());
    std::fflush(stdout);
    group.run(std::chrono::seconds(1));
    std::printf("http_hello: stopped\n");
    return 0;
}
