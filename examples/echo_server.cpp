// Echo server: sends every byte back. With --threads N it runs N loops on N threads
// (a sluice::loop_group): --spread reuseport gives each loop its own listener on the
// port (the kernel spreads the connections); --spread acceptor has loop 0 accept and
// hand each connection to a loop by --policy rr (round robin) or least (fewest open
// connections). SIGINT/SIGTERM shut down gracefully.
//
//   echo_server [--port 7000] [--backend epoll|io_uring|poll|select] [--threads 1]
//               [--spread reuseport|acceptor] [--policy rr|least]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

int main(int argc, char** argv) {
    std::uint16_t port = 7000;
    sluice::backend backend = sluice::backend::automatic;
    sluice::group_listen_options opt;
    int threads = 1;
    for (int i = 1; i < argc; i += 2) {
        const char* value = i + 1 < argc ? argv[i + 1] : "";
        if (!std::strcmp(argv[i], "--port") && *value)
            port = static_cast<std::uint16_t>(std::atoi(value));
        else if (!std::strcmp(argv[i], "--threads") && *value)
            threads = std::atoi(value);
        else if (!(!std::strcmp(argv[i], "--backend") && sluice::parse_backend(value, backend)) &&
                 !(!std::strcmp(argv[i], "--spread") && sluice::parse_spread(value, opt.spread)) &&
                 !(!std::strcmp(argv[i], "--policy") && sluice::parse_policy(value, opt.policy))) {
            std::fprintf(stderr,
                         "usage: echo_server [--port P] [--backend epoll|io_uring|poll|select] "
                         "[--threads N] [--spread reuseport|acceptor] [--policy rr|least]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;

    sluice::loop_group group(static_cast<std::size_t>(threads), backend);
    if (auto ec = group.status()) {
        std::fprintf(stderr, "echo_server: backend %s: %s\n", sluice::to_string(backend),
                     ec.message().c_str());
        return 1;
    }
    auto on_connection = [](sluice::tcp_stream stream) {
        stream.set_nodelay(true);
        echo(new session{std::move(stream)});
    };
    if (auto ec = group.listen(sluice::endpoint::any_v4(port), on_connection, opt)) {
        std::fprintf(stderr, "echo_server: listen on port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    group.at(0).on_signal(SIGINT, [&](int) { group.stop(); });
    group.at(0).on_signal(SIGTERM, [&](int) { group.stop(); });
    std::printf("echo_server: listening on port %u, backend %s, %d thread(s)\n", port,
                group.at(0).backend_name(), threads);
    // Asked for io_uring where the kernel refuses it: say so, and why.
    if (!group.at(0).backend_note().empty())
        std::printf("echo_server: %s\n", group.at(0).backend_note().c_str());
    std::fflush(stdout);
    group.run(std::chrono::seconds(1));
    std::printf("echo_server: stopped\n");
    return 0;
}
