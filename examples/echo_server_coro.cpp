// Echo server, coroutine style: the twin of echo_server.cpp over the same handles.
// One task per connection; the write awaits until the kernel has the bytes, so a
// slow reader holds back its own sender (bounded memory without watermarks).
//
//   echo_server_coro [--port 7000] [--backend epoll|io_uring|poll|select] [--threads 1]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

static sluice::task<void> session(sluice::tcp_stream s) {
    char buf[16 * 1024];
    for (;;) {
        auto [ec, n] = co_await sluice::read_some(s, buf, sizeof buf);
        if (ec) break;
        if ((co_await sluice::write(s, sluice::const_buffer(buf, n))).ec) break;
    }
}

static sluice::task<void> serve(sluice::loop& loop, sluice::tcp_listener& listener) {
    for (;;) {
        auto r = co_await sluice::accept(listener);
        if (r.ec == make_error_code(sluice::error::operation_aborted)) co_return;
        if (!r) continue;
        r.value.set_nodelay(true);
        sluice::spawn(loop, session(std::move(r.value)));
    }
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
            std::fprintf(stderr, "usage: echo_server_coro [--port P] [--backend epoll|io_uring|poll|select] "
                                 "[--threads N]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    std::vector<std::unique_ptr<sluice::loop>> loops;
    std::vector<sluice::tcp_listener> listeners;
    sluice::listen_options opt;
    opt.reuse_port = threads > 1;
    for (int i = 0; i < threads; ++i) {
        loops.push_back(std::make_unique<sluice::loop>(backend));
        if (auto ec = loops.back()->status()) {
            std::fprintf(stderr, "echo_server_coro: backend: %s\n", ec.message().c_str());
            return 1;
        }
        listeners.emplace_back(*loops.back());
        if (auto ec = listeners.back().listen(sluice::endpoint::any_v4(port), opt)) {
            std::fprintf(stderr, "echo_server_coro: listen on port %u: %s\n", port,
                         ec.message().c_str());
            return 1;
        }
        sluice::spawn(*loops.back(), serve(*loops.back(), listeners.back()));
    }
    auto stop_all = [&](int) {
        for (auto& l : loops) l->post([lp = l.get()] { lp->stop(); });
    };
    loops[0]->on_signal(SIGINT, stop_all);
    loops[0]->on_signal(SIGTERM, stop_all);
    std::printf("echo_server_coro: listening on port %u, backend %s, %d thread(s)\n", port,
                loops[0]->backend_name(), threads);
    std::fflush(stdout);
    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) workers.emplace_back([&loops, i] { loops[i]->run(); });
    loops[0]->run();
    for (auto& t : workers) t.join();
    // Suspended sessions are resumed with operation_aborted and finish.
    for (auto& l : loops) l->shutdown(std::chrono::seconds(1));
    std::printf("echo_server_coro: stopped\n");
    return 0;
}
