// Reads that stop, restart and change kind keep every byte, in order, on every backend.
// On io_uring they exercise what the backend's own receive must get right: bytes it
// took from the socket after read_stop() (kept for the next read), a read_some() buffer
// smaller than what arrived, and a switch between read_start() and read_some().
#include "common.hpp"

#include <cerrno>
#include <cstddef>
#include <functional>
#include <string>

#if defined(__linux__)
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace std::chrono_literals;

namespace {

// Bytes 0, 1, 2, ... as characters: any loss or reordering shows.
std::string pattern(std::size_t n, std::size_t from = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((from + i) % 251);
    return s;
}

} // namespace

TEST_CASE("read order: read_stop() between chunks loses nothing when reading starts again") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    const std::string sent = pattern(300000);
    std::string got;
    int stops = 0;
    // Stops after every chunk and starts again on the next turn, while the peer keeps
    // sending: bytes in flight at each stop must come first at the next start.
    std::function<void()> start = [&] {
        p.served.read_start([&](std::error_code ec, std::string_view d) {
            REQUIRE_FALSE(ec);
            got.append(d);
            p.served.read_stop();
            ++stops;
            loop.defer([&] { start(); });
        });
    };
    start();
    for (std::size_t off = 0; off < sent.size(); off += 1000)
        p.client.write(std::string_view(sent).substr(off, 1000));
    REQUIRE(loop.run_until([&] { return got.size() >= sent.size(); }));
    p.served.read_stop();
    CHECK(got.size() == sent.size());
    CHECK(got == sent);
    CHECK(stops > 1);
}

TEST_CASE("read order: read_some() with a buffer smaller than what arrived, then read_start()") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    const std::string sent = pattern(20000);
    p.client.write(std::string_view(sent));
    std::string got;
    char small[7];
    // Twenty small reads first (each takes 7 bytes of a larger arrival), then the rest
    // through a subscription.
    std::function<void(int)> next = [&](int left) {
        p.served.read_some(sluice::mutable_buffer(small, sizeof small),
                           [&, left](std::error_code ec, std::size_t n) {
                               REQUIRE_FALSE(ec);
                               CHECK(n <= sizeof small);
                               got.append(small, n);
                               if (left > 1) return next(left - 1);
                               p.served.read_start([&](std::error_code e, std::string_view d) {
                                   REQUIRE_FALSE(e);
                                   got.append(d);
                               });
                           });
    };
    next(20);
    REQUIRE(loop.run_until([&] { return got.size() >= sent.size(); }));
    CHECK(got == sent);
}

TEST_CASE("read order: end of stream comes after every byte kept across a read_stop()") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    const std::string sent = pattern(50000);
    std::string got;
    std::error_code last;
    p.served.read_start([&](std::error_code ec, std::string_view d) {
        if (ec) return void(last = ec);
        got.append(d);
        p.served.read_stop(); // once: the rest, and the end, come to the next subscription
    });
    p.client.write(std::string_view(sent));
    p.client.shutdown_write();
    REQUIRE(loop.run_until([&] { return !got.empty(); }));
    loop.run_for(50ms); // whatever the backend already took arrives meanwhile
    p.served.read_start([&](std::error_code ec, std::string_view d) {
        if (ec) return void(last = ec);
        got.append(d);
    });
    REQUIRE(loop.run_until([&] { return static_cast<bool>(last); }));
    CHECK(last == sluice::error::eof);
    CHECK(got == sent);
}

#if defined(__linux__) && defined(SECCOMP_RET_ERRNO) && defined(__NR_io_uring_setup)
TEST_CASE("io_uring refused by a seccomp filter: the loop runs on epoll and says why") {
    // In a child: a filter like a container's that fails io_uring_setup with EPERM.
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
        if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) ::_exit(11);
        sluice::loop l(sluice::backend::io_uring);
        if (l.status()) ::_exit(12);
        if (l.backend_kind() != sluice::backend::epoll) ::_exit(13);
        if (l.backend_note().find("Operation not permitted") == std::string::npos) ::_exit(14);
        if (l.backend_note().find("using epoll") == std::string::npos) ::_exit(15);
        // And it works: a timer fires on the fallback.
        bool fired = false;
        sluice::timer t(l);
        t.start(1ms, [&](std::error_code) { fired = true; });
        l.run();
        ::_exit(fired ? 0 : 16);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
#endif
