// Idle-connection load, deliberately not built on sluice so every server is driven by
// the same neutral client: raw sockets and epoll, one thread.
//
//   idle_load --port P --connections N [--ping] [--batch 256] [--timeout 60]
//
// Opens N TCP connections to 127.0.0.1:P (non-blocking connects, at most --batch of
// them unfinished at a time so no server's listen backlog overflows), sends one 64-byte
// message on each and waits until every byte has come back unchanged: by then the
// server has accepted, read and written on every connection, so it sits in its steady
// idle state. Then prints "ready N" on stdout, flushes, and holds the connections open
// until stdin gives a line or EOF. A connection the server closes or writes to while
// idle is an error. With --ping, one more verified 64-byte echo runs on every
// connection before they are closed (proving all of them were still alive while held),
// and "pinged N" is printed. Exits 1 on any failure, with the reason on stderr.
//
// Licensed under the Boost Software License 1.0 (see LICENSE).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t message_size = 64;
constexpr std::uint64_t stdin_tag = ~std::uint64_t{0};

enum class phase : unsigned char { idle, connecting, sending, receiving, done };

struct conn {
    int fd = -1;
    phase state = phase::idle;
    unsigned char sent = 0, received = 0;
};

// Distinct bytes per connection and per round, so an echo of the wrong connection's
// message or of a stale one is caught.
char pattern_byte(std::size_t index, int round, std::size_t offset) {
    return static_cast<char>((index * 131 + static_cast<std::size_t>(round) * 71 + offset * 7 + 1) &
                             0xff);
}

[[noreturn]] void fail(const char* what, std::size_t index, int err) {
    std::fprintf(stderr, "idle_load: connection %zu: %s%s%s\n", index, what, err ? ": " : "",
                 err ? std::strerror(err) : "");
    std::exit(1);
}

struct client {
    int ep = -1;
    std::vector<conn> conns;
    sockaddr_in server{};
    int round = 0;

    void watch(std::size_t i, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = i;
        if (epoll_ctl(ep, op, conns[i].fd, &ev) != 0) fail("epoll_ctl", i, errno);
    }

    void open(std::size_t i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) fail("socket", i, errno);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[i].fd = fd;
        if (connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0) {
            conns[i].state = phase::sending;
            watch(i, EPOLLOUT, EPOLL_CTL_ADD);
        } else if (errno == EINPROGRESS) {
            conns[i].state = phase::connecting;
            watch(i, EPOLLOUT, EPOLL_CTL_ADD);
        } else {
            fail("connect", i, errno);
        }
    }

    // Starts (or continues) sending this round's message; returns once the kernel has
    // taken all of it or would block.
    void send_some(std::size_t i) {
        conn& c = conns[i];
        char msg[message_size];
        for (std::size_t k = 0; k < message_size; ++k) msg[k] = pattern_byte(i, round, k);
        while (c.sent < message_size) {
            ssize_t w = send(c.fd, msg + c.sent, message_size - c.sent, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                fail("send", i, errno);
            }
            c.sent = static_cast<unsigned char>(c.sent + w);
        }
        c.state = phase::receiving;
        watch(i, EPOLLIN, EPOLL_CTL_MOD);
    }

    // Returns true when the whole message has come back.
    bool receive_some(std::size_t i) {
        conn& c = conns[i];
        char buf[message_size + 1];
        for (;;) {
            // Ask for one byte more than is due, so an over-long echo is caught too.
            ssize_t r = recv(c.fd, buf, message_size + 1 - c.received, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) return false;
                fail("recv", i, errno);
            }
            if (r == 0) fail("closed by the server before the echo was complete", i, 0);
            for (ssize_t k = 0; k < r; ++k) {
                std::size_t off = c.received + static_cast<std::size_t>(k);
                if (off >= message_size) fail("server sent more bytes than were sent to it", i, 0);
                if (buf[k] != pattern_byte(i, round, off)) fail("echoed byte differs", i, 0);
            }
            c.received = static_cast<unsigned char>(c.received + r);
            if (c.received == message_size) {
                c.state = phase::done;
                return true;
            }
        }
    }

    void on_event(std::size_t i, std::uint32_t events) {
        conn& c = conns[i];
        if (c.state == phase::connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) fail("connect", i, err);
            if (!(events & EPOLLOUT)) fail("connect: no writable event", i, 0);
            c.state = phase::sending;
        }
        if (c.state == phase::sending) {
            if (events & (EPOLLERR | EPOLLHUP)) fail("error while sending", i, 0);
            send_some(i);
            return;
        }
        if (c.state == phase::receiving) {
            receive_some(i);
            return;
        }
        // done or idle: the server must stay silent while the connection is held.
        char b;
        ssize_t r = recv(c.fd, &b, 1, MSG_DONTWAIT);
        if (r == 0) fail("closed by the server while idle", i, 0);
        if (r > 0) fail("unexpected bytes from the server while idle", i, 0);
        if (errno != EAGAIN && errno != EINTR) fail("error while idle", i, errno);
    }

    // Returns the number of connections finished this call; -1 if the deadline passed.
    int pump(int timeout_ms) {
        epoll_event evs[512];
        int n = epoll_wait(ep, evs, 512, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) return 0;
            std::perror("idle_load: epoll_wait");
            std::exit(1);
        }
        int finished = 0;
        for (int k = 0; k < n; ++k) {
            if (evs[k].data.u64 == stdin_tag) continue;
            auto i = static_cast<std::size_t>(evs[k].data.u64);
            phase before = conns[i].state;
            on_event(i, evs[k].events);
            if (before != phase::done && conns[i].state == phase::done) ++finished;
        }
        return finished;
    }
};

double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
    int port = 0;
    long n = 0, batch = 256;
    double timeout = 60;
    bool ping = false;
    for (int i = 1; i < argc; ++i) {
        bool has_value = i + 1 < argc;
        if (!std::strcmp(argv[i], "--ping")) {
            ping = true;
        } else if (has_value && !std::strcmp(argv[i], "--port")) {
            port = std::atoi(argv[++i]);
        } else if (has_value && !std::strcmp(argv[i], "--connections")) {
            n = std::atol(argv[++i]);
        } else if (has_value && !std::strcmp(argv[i], "--batch")) {
            batch = std::atol(argv[++i]);
        } else if (has_value && !std::strcmp(argv[i], "--timeout")) {
            timeout = std::atof(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: idle_load --port P --connections N [--ping] [--batch "
                                 "256] [--timeout 60]\n");
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || n <= 0 || batch <= 0) {
        std::fprintf(stderr, "idle_load: --port and --connections are required and positive\n");
        return 2;
    }

    // N sockets, the epoll descriptor, stdio and a little headroom.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
    auto need = static_cast<rlim_t>(n) + 16;
    if (lim.rlim_cur < need) {
        std::fprintf(stderr,
                     "idle_load: descriptor limit %llu (hard limit %llu) is too low for %ld "
                     "connections: need %llu (raise the hard limit: ulimit -Hn, "
                     "/etc/security/limits.conf)\n",
                     static_cast<unsigned long long>(lim.rlim_cur),
                     static_cast<unsigned long long>(lim.rlim_max), n,
                     static_cast<unsigned long long>(need));
        return 1;
    }

    client cl;
    cl.ep = epoll_create1(EPOLL_CLOEXEC);
    if (cl.ep < 0) {
        std::perror("idle_load: epoll_create1");
        return 1;
    }
    cl.conns.resize(static_cast<std::size_t>(n));
    cl.server.sin_family = AF_INET;
    cl.server.sin_port = htons(static_cast<std::uint16_t>(port));
    cl.server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    auto t0 = std::chrono::steady_clock::now();
    auto check_deadline = [&](const char* what, long done) {
        if (since(t0) > timeout) {
            std::fprintf(stderr,
                         "idle_load: timeout after %.0f s %s: %ld of %ld connections done\n",
                         timeout, what, done, n);
            std::exit(1);
        }
    };

    // Phase 1: connect and echo once, keeping at most `batch` connections unfinished.
    std::size_t next = 0;
    long done = 0;
    while (done < n) {
        while (next < cl.conns.size() && static_cast<long>(next) - done < batch) cl.open(next++);
        done += cl.pump(100);
        check_deadline("connecting", done);
    }
    // Every connection stays registered for EPOLLIN: the server must not talk or hang up.
    std::fprintf(stderr, "idle_load: %ld connections echoed in %.2f s\n", n, since(t0));
    std::printf("ready %ld\n", n);
    std::fflush(stdout);

    // Phase 2: hold until stdin gives a line or EOF. If stdin cannot be polled (a
    // regular file, /dev/null), it is read blocking: that returns at once.
    epoll_event sev{};
    sev.events = EPOLLIN;
    sev.data.u64 = stdin_tag;
    bool pollable = epoll_ctl(cl.ep, EPOLL_CTL_ADD, STDIN_FILENO, &sev) == 0;
    for (;;) {
        if (pollable) {
            epoll_event evs[64];
            int k = epoll_wait(cl.ep, evs, 64, -1);
            if (k < 0 && errno == EINTR) continue;
            bool input = false;
            for (int j = 0; j < k; ++j) {
                if (evs[j].data.u64 == stdin_tag)
                    input = true;
                else
                    cl.on_event(static_cast<std::size_t>(evs[j].data.u64), evs[j].events);
            }
            if (!input) continue;
        }
        char line[256];
        ssize_t r = read(STDIN_FILENO, line, sizeof line);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || std::memchr(line, '\n', static_cast<std::size_t>(r))) break;
    }
    if (pollable) epoll_ctl(cl.ep, EPOLL_CTL_DEL, STDIN_FILENO, nullptr);

    // Phase 3 (--ping): one more verified echo on every connection, all at once.
    if (ping) {
        cl.round = 1;
        t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < cl.conns.size(); ++i) {
            cl.conns[i].state = phase::sending;
            cl.conns[i].sent = cl.conns[i].received = 0;
            cl.watch(i, EPOLLOUT, EPOLL_CTL_MOD);
        }
        done = 0;
        while (done < n) {
            done += cl.pump(100);
            check_deadline("pinging", done);
        }
        std::printf("pinged %ld\n", n);
        std::fflush(stdout);
    }
    for (auto& c : cl.conns) close(c.fd);
    return 0;
}
