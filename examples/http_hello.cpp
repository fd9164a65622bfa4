// HTTP "hello world" following the TechEmpower plaintext rules: GET /plaintext
// answers 200 text/plain "Hello, World!" with Server and Date headers, keep-alive
// and pipelining; anything else is 404. With --threads N it runs N loops on N
// threads, each with its own listener on the same port (SO_REUSEPORT). SIGINT and
// SIGTERM stop it.
//
//   http_hello [--port 8080] [--threads 1] [--backend epoll|poll|select]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace http = sluice::http;

static void handle(const http::request_view& req, http::response& res) {
    if (req.path() == "/plaintext" &&
        (req.verb() == http::verb::get || req.verb() == http::verb::head)) {
        res.header("Content-Type", "text/plain").end("Hello, World!");
        return;
    }
    res.status(404).header("Content-Type", "text/plain").end("Not Found\n");
}

int main(int argc, char** argv) {
    std::uint16_t port = 8080;
    sluice::backend backend = sluice::backend::automatic;
    int threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port"))
            port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--threads"))
            threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--backend") &&
                 sluice::parse_backend(argv[i + 1], backend)) {
        } else {
            std::fprintf(stderr, "usage: http_hello [--port P] [--threads N] "
                                 "[--backend epoll|poll|select]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        std::fprintf(stderr, "http_hello: missing value for %s\n", argv[argc - 1]);
        return 2;
    }
    if (threads < 1) threads = 1;

    std::vector<std::unique_ptr<sluice::loop>> loops;
    std::vector<std::unique_ptr<http::server>> servers;
    sluice::listen_options opt;
    opt.reuse_port = threads > 1;
    for (int i = 0; i < threads; ++i) {
        loops.push_back(std::make_unique<sluice::loop>(backend));
        if (auto ec = loops.back()->status()) {
            std::fprintf(stderr, "http_hello: backend %s: %s\n", sluice::to_string(backend),
                         ec.message().c_str());
            return 1;
        }
        servers.push_back(std::make_unique<http::server>(*loops.back()));
        servers.back()->on_request(handle);
        if (auto ec = servers.back()->listen(sluice::endpoint::any_v4(port), opt)) {
            std::fprintf(stderr, "http_hello: listen on port %u: %s\n", port, ec.message().c_str());
            return 1;
        }
    }
    // Loop 0 (the main thread) owns the signals and tells every loop to stop.
    auto stop_all = [&](int) {
        for (std::size_t i = 0; i < loops.size(); ++i)
            loops[i]->post([lp = loops[i].get(), srv = servers[i].get()] {
                srv->close();
                lp->stop();
            });
    };
    loops[0]->on_signal(SIGINT, stop_all);
    loops[0]->on_signal(SIGTERM, stop_all);
    std::printf("http_hello: listening on port %u, backend %s, %d thread(s)\n", port,
                loops[0]->backend_name(), threads);
    std::fflush(stdout);

    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) workers.emplace_back([&loops, i] { loops[i]->run(); });
    loops[0]->run();
    for (auto& t : workers) t.join();
    for (std::size_t i = 0; i < loops.size(); ++i) {
        servers[i].reset();
        loops[i]->shutdown(std::chrono::seconds(1));
    }
    std::printf("http_hello: stopped\n");
    return 0;
}
