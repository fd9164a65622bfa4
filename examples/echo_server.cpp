// Echo server: sends every byte back. With --threads N it runs N loops on N threads,
// each with its own listener on the same port (SO_REUSEPORT: the kernel spreads the
// connections). SIGINT/SIGTERM shut down gracefully.
//
//   echo_server [--port 7000] [--backend epoll|poll|select] [--threads 1]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

struct session {
    sluice::tcp_stream stream;
};

// Read into the loop's shared buffer and write straight back; when the peer reads
// slower than it sends, stop reading until our queue drains (bounded memory).
static void echo(session* s) {
    s->stream.read_start([s](std::error_code ec, std::string_view data) {
        if (ec) return delete s;
        s->stream.write(data);
        if (s->stream.write_queue_high()) {
            s->stream.read_stop();
            s->stream.on_drain([s] { echo(s); });
        }
    });
}

static int serve(std::uint16_t port, bool reuse_port, sluice::tcp_listener& listener) {
    sluice::listen_options opt;
    opt.reuse_port = reuse_port;
    if (auto ec = listener.listen(sluice::endpoint::any_v4(port), opt)) {
        std::fprintf(stderr, "echo_server: listen on port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    listener.accept_each([](std::error_code ec, sluice::tcp_stream stream) {
        if (ec) return;
        stream.set_nodelay(true);
        echo(new session{std::move(stream)});
    });
    return 0;
}

int main(int argc, char** argv) {
    std::uint16_t port = 7000;
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
            std::fprintf(
                stderr,
                "usage: echo_server [--port P] [--backend epoll|poll|select] [--threads N]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;

    // Loop 0 runs on the main thread and also owns the signal handling.
    std::vector<std::unique_ptr<sluice::loop>> loops;
    std::vector<sluice::tcp_listener> listeners;
    for (int i = 0; i < threads; ++i) {
        loops.push_back(std::make_unique<sluice::loop>(backend));
        if (auto ec = loops.back()->status()) {
            std::fprintf(stderr, "echo_server: backend %s: %s\n", sluice::to_string(backend),
                         ec.message().c_str());
            return 1;
        }
        listeners.emplace_back(*loops.back());
        if (serve(port, threads > 1, listeners.back())) return 1;
    }
    auto stop_all = [&](int) {
        for (auto& l : loops) l->post([lp = l.get()] { lp->stop(); });
    };
    loops[0]->on_signal(SIGINT, stop_all);
    loops[0]->on_signal(SIGTERM, stop_all);
    std::printf("echo_server: listening on port %u, backend %s, %d thread(s)\n", port,
                loops[0]->backend_name(), threads);
    std::fflush(stdout);

    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) workers.emplace_back([&loops, i] { loops[i]->run(); });
    loops[0]->run();
    for (auto& t : workers) t.join();
    for (auto& l : loops) l->shutdown(std::chrono::seconds(1));
    std::printf("echo_server: stopped\n");
    return 0;
}
