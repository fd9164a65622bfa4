// Echo client: opens C connections, sends M messages of S bytes on each (one in
// flight per connection), checks every echoed byte, prints the throughput.
// Exits 1 if any byte differs or a connection fails.
//
//   echo_client [--host 127.0.0.1] [--port 7000] [--connections 1] [--messages 1000] [--size 64]
#include <sluice.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct client {
    sluice::tcp_stream stream;
    std::string message;
    std::size_t received = 0; // bytes of the current echo
    int left = 0;
};

static int failures = 0;
static long long bytes_total = 0;

static void send_next(client& c) {
    if (c.left-- == 0) return c.stream.close();
    c.received = 0;
    c.stream.write(c.message);
}

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::uint16_t port = 7000;
    int connections = 1, messages = 1000;
    std::size_t size = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!std::strcmp(argv[i], "--port"))
            port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--connections"))
            connections = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--messages"))
            messages = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--size"))
            size = static_cast<std::size_t>(std::atol(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: echo_client [--host H] [--port P] [--connections C] "
                                 "[--messages M] [--size S]\n");
            return 2;
        }
    }
    sluice::loop loop;
    std::vector<client> clients(static_cast<std::size_t>(connections));
    auto start = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < clients.size(); ++k) {
        client& c = clients[k];
        c.stream = sluice::tcp_stream(loop);
        c.left = messages;
        for (std::size_t i = 0; i < size; ++i)
            c.message.push_back(static_cast<char>('a' + (i * 7 + k) % 26));
        c.stream.connect(host, port, [&c](std::error_code ec) {
            if (ec) {
                std::fprintf(stderr, "echo_client: connect: %s\n", ec.message().c_str());
                ++failures;
                return;
            }
            c.stream.set_nodelay(true);
            c.stream.read_start([&c](std::error_code ec, std::string_view data) {
                if (ec) {
                    if (c.left >= 0) {
                        std::fprintf(stderr, "echo_client: read: %s\n", ec.message().c_str());
                        ++failures;
                    }
                    return c.stream.close();
                }
                if (c.received + data.size() > c.message.size() ||
                    std::memcmp(c.message.data() + c.received, data.data(), data.size()) != 0) {
                    std::fprintf(stderr, "echo_client: echoed bytes differ\n");
                    ++failures;
                    return c.stream.close();
                }
                c.received += data.size();
                bytes_total += static_cast<long long>(data.size());
                if (c.received == c.message.size()) send_next(c);
            });
            send_next(c);
        });
    }
    loop.run();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    long long msgs = size ? bytes_total / static_cast<long long>(size) : 0;
    std::printf("echo_client: %lld messages of %zu bytes over %d connection(s) in %.3f s: %.0f "
                "msg/s, %.1f MB/s, %d failure(s)\n",
                msgs, size, connections, secs, msgs / secs, bytes_total / secs / 1e6, failures);
    return failures == 0 && msgs == static_cast<long long>(messages) * connections ? 0 : 1;
}
