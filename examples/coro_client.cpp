// Coroutine TCP client: connects (name resolution included), sends a line, reads the
// reply with a timeout.
//
//   coro_client [--host 127.0.0.1] [--port 7000] [--message hello] [--timeout-ms 2000]
#include <sluice.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

static sluice::task<int> run(sluice::loop& loop, std::string host, std::uint16_t port,
                             std::string message, std::chrono::milliseconds timeout) {
    sluice::tcp_stream s(loop);
    if (auto ec = co_await sluice::with_timeout(sluice::connect(s, host, port), timeout)) {
        std::fprintf(stderr, "coro_client: connect %s:%u: %s\n", host.c_str(), port,
                     ec.message().c_str());
        co_return 1;
    }
    if (auto w = co_await sluice::write(s, message); !w) co_return 1;
    char buf[4096];
    auto r = co_await sluice::with_timeout(sluice::read_some(s, buf, sizeof buf), timeout);
    if (!r) {
        std::fprintf(stderr, "coro_client: read: %s\n", r.ec.message().c_str());
        co_return 1;
    }
    std::printf("%.*s\n", static_cast<int>(r.value), buf);
    co_return 0;
}

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", message = "hello";
    std::uint16_t port = 7000;
    int timeout_ms = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!std::strcmp(argv[i], "--port"))
            port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--message"))
            message = argv[i + 1];
        else if (!std::strcmp(argv[i], "--timeout-ms"))
            timeout_ms = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: coro_client [--host H] [--port P] [--message M] "
                                 "[--timeout-ms T]\n");
            return 2;
        }
    }
    sluice::loop loop;
    auto rc = sluice::run_until_complete(
        loop, run(loop, host, port, message, std::chrono::milliseconds(timeout_ms)));
    return rc ? *rc : 1;
}
