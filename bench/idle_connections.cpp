// Memory per idle connection: an echo server (the examples/echo_server session
// logic) accepts N connections that then stay silent. Clients live in a forked
// child, so the numbers are the server's alone. Prints RSS growth per connection
// and malloc'd bytes per connection (library + session state).
//
//   idle_connections [--connections 10000] [--backend epoll|poll|select]
#include <sluice.hpp>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static long rss_kib() {
    long pages = 0, resident = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f || std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) std::fclose(f);
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

struct session {
    sluice::tcp_stream stream;
};

static void echo(session* s) {
    s->stream.read_start([s](std::error_code ec, std::string_view data) {
        if (ec) return delete s;
        s->stream.write(data);
    });
}

int main(int argc, char** argv) {
    int n = 10000;
    sluice::backend backend = sluice::backend::automatic;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--connections"))
            n = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--backend"))
            sluice::parse_backend(argv[i + 1], backend);
    }
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < static_cast<rlim_t>(n) + 64) {
        std::fprintf(stderr, "idle_connections: descriptor limit %llu too low for %d connections\n",
                     static_cast<unsigned long long>(lim.rlim_cur), n);
        return 1;
    }

    sluice::loop loop(backend);
    sluice::tcp_listener listener(loop);
    sluice::listen_options opt;
    opt.backlog = 4096;
    if (listener.listen(sluice::endpoint::loopback_v4(0), opt)) return 1;
    std::error_code ec;
    auto port = listener.local_endpoint(ec).port();
    int accepted = 0;
    listener.accept_each([&](std::error_code e, sluice::tcp_stream s) {
        if (e) return;
        ++accepted;
        echo(new session{std::move(s)});
    });
    // Warm up: one connection so the loop's shared read buffer and tables exist.
    loop.run_for(std::chrono::milliseconds(10));
    int pipefd[2];
    if (::pipe(pipefd) != 0) return 1;
    pid_t child = ::fork();
    if (child == 0) { // the clients: connect N sockets, then wait to be told to exit
        ::close(pipefd[1]);
        std::vector<int> fds;
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (int i = 0; i < n; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) _exit(2);
            fds.push_back(fd);
        }
        char c;
        ssize_t r = ::read(pipefd[0], &c, 1);
        (void)r;
        _exit(0);
    }
    ::close(pipefd[0]);
    long rss_before = rss_kib();
    auto heap_before = mallinfo2().uordblks;
    while (accepted < n) loop.run_for(std::chrono::milliseconds(100));
    loop.run_for(std::chrono::milliseconds(200)); // settle: every session is reading
    long rss_after = rss_kib();
    auto heap_after = mallinfo2().uordblks;
    std::printf("backend %s: %d idle connections\n", loop.backend_name(), n);
    std::printf("  RSS growth per connection:   %.1f bytes\n",
                (rss_after - rss_before) * 1024.0 / n);
    std::printf(
        "  heap growth per connection:  %.1f bytes (malloc'd, incl. the example's session)\n",
        static_cast<double>(heap_after - heap_before) / n);
    std::printf("  sizeof(tcp_stream) = %zu, sizeof(detail::stream_impl) = %zu, per-connection "
                "read buffer: none\n",
                sizeof(sluice::tcp_stream), sizeof(sluice::detail::stream_impl));
    char c = 'x';
    ssize_t w = ::write(pipefd[1], &c, 1);
    (void)w;
    int status = 0;
    ::waitpid(child, &status, 0);
    loop.run_for(std::chrono::milliseconds(200));
    return 0;
}
