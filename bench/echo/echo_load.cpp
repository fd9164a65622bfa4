// Echo load generator, deliberately not built on sluice so every server is driven by
// the same neutral client: raw epoll, one thread, C connections, each with one
// message of S bytes in flight; every echoed byte is compared with what was sent.
//
//   echo_load --port P [--connections 1] [--size 64] [--seconds 5]
// Prints one line: messages/s, MB/s (echoed payload), and the error count.
// Exits 1 if a byte differs, a connection fails, or nothing was echoed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct conn {
    int fd = -1;
    std::size_t sent = 0, received = 0;
    unsigned round = 0;
};

int main(int argc, char** argv) {
    int port = 7000, connections = 1;
    std::size_t size = 64;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--connections")) connections = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--size")) size = static_cast<std::size_t>(std::atol(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    }
    // The payload changes every round so a server that echoed stale bytes is caught.
    std::string pattern(size + 256, '\0');
    for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>((i * 131 + 7) & 0xff);
    auto expected = [&](const conn& c, std::size_t off) { return pattern[(c.round % 256) + off]; };

    // 1,000 connections pass the usual soft limit of 1,024 descriptors; the hard one is
    // the only real limit.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    std::vector<conn> conns(static_cast<std::size_t>(connections));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (std::size_t i = 0; i < conns.size(); ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            std::perror("echo_load: connect");
            return 1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[i].fd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    auto send_round = [&](conn& c) {
        c.sent = c.received = 0;
        while (c.sent < size) {
            ssize_t n = send(c.fd, pattern.data() + (c.round % 256) + c.sent, size - c.sent, MSG_NOSIGNAL);
            if (n <= 0) return false; // blocking socket: only an error ends this
            c.sent += static_cast<std::size_t>(n);
        }
        return true;
    };
    long long messages = 0, bytes = 0, errors = 0;
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    for (auto& c : conns)
        if (!send_round(c)) ++errors;
    std::vector<char> buf(1 << 16);
    epoll_event evs[256];
    while (errors == 0 && std::chrono::steady_clock::now() < deadline) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; ++k) {
            conn& c = conns[evs[k].data.u64];
            ssize_t r = recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                ++errors;
                break;
            }
            for (ssize_t j = 0; j < r; ++j)
                if (c.received + static_cast<std::size_t>(j) >= size || buf[static_cast<std::size_t>(j)] != expected(c, c.received + static_cast<std::size_t>(j))) {
                    ++errors;
                    break;
                }
            c.received += static_cast<std::size_t>(r);
            bytes += r;
            if (c.received == size) {
                ++messages;
                ++c.round;
                if (!send_round(c)) ++errors;
            }
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("messages/s %.0f MB/s %.2f errors %lld connections %d size %zu messages %lld\n",
                messages / secs, bytes / secs / 1e6, errors, connections, size, messages);
    for (auto& c : conns) close(c.fd);
    return errors == 0 && messages > 0 ? 0 : 1;
}
