// The kqueue backend on Linux, against the stub <sys/event.h> and a recording fake of
// kqueue()/kevent() defined here: every changelist entry the poller submits is logged,
// and a wait returns the events a test scripts, the way a BSD kernel would report them.
// Built with SLUICE_HAS_KQUEUE=1 (tests/CMakeLists.txt).
#include <ostream>

#include <doctest/doctest.h>

#include <sluice.hpp>

#include <sys/event.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

static_assert(SLUICE_HAS_KQUEUE == 1, "this test drives the kqueue backend");

namespace {

struct change {
    std::uintptr_t ident;
    short filter;
    unsigned short flags;
};

// What the fake kernel knows: the changes it was sent, the filters they leave
// registered (with their udata), and the script for the next wait.
struct fake_kernel {
    std::vector<change> changes;
    int change_calls = 0; // kevent() calls that carried a changelist
    std::map<std::pair<std::uintptr_t, short>, void*> registered;
    // Fills the event list for a wait; returns how many. Unset: nothing is ready.
    std::function<int(struct kevent*, int)> on_wait;
    int scripted_events = 0; // how many events the script has returned

    void reset() {
        changes.clear();
        change_calls = 0;
    }
};

fake_kernel kernel;

} // namespace

extern "C" int kqueue(void) { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

extern "C" int kevent(int, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
                      int nevents, const struct timespec*) {
    if (nchanges > 0) ++kernel.change_calls;
    for (int i = 0; i < nchanges; ++i) {
        const struct kevent& c = changelist[i];
        kernel.changes.push_back({c.ident, c.filter, c.flags});
        const auto key = std::make_pair(c.ident, c.filter);
        if (c.flags & EV_DELETE) {
            if (!kernel.registered.erase(key)) {
                errno = ENOENT; // as kevent(2): deleting a filter that is not there
                return -1;
            }
        } else if (c.flags & EV_ADD) {
            kernel.registered[key] = c.udata;
        }
    }
    if (nevents == 0 || !kernel.on_wait) return 0;
    return kernel.on_wait(eventlist, nevents);
}

namespace {

using sluice::detail::ev_read;
using sluice::detail::ev_write;

struct poller_fixture {
    poller_fixture() {
        kernel = fake_kernel{};
        REQUIRE_FALSE(ec);
    }
    std::error_code ec;
    sluice::detail::kqueue_poller poller{ec};
    int fd = 7;
    int user = 0;
};

// A loopback listener that accepts in the kernel's backlog: a connect to it succeeds,
// so SO_ERROR stays 0 and only the event can say the connect was refused.
struct raw_listener {
    raw_listener() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd, 16) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port = ntohs(a.sin_port);
    }
    ~raw_listener() { ::close(fd); }
    int fd;
    std::uint16_t port;
};

// Once `wanted` write filters are registered, reports each of them once as BSD reports
// a connect that ended: EV_EOF, with `error` (0: none given) in fflags.
void script_connect_end(std::size_t wanted, unsigned error) {
    kernel.on_wait = [wanted, error](struct kevent* out, int capacity) {
        std::vector<std::pair<std::uintptr_t, void*>> writers;
        for (auto& r : kernel.registered)
            if (r.first.second == EVFILT_WRITE) writers.push_back({r.first.first, r.second});
        if (writers.size() < wanted) return 0;
        int n = 0;
        for (auto& w : writers) {
            if (n == capacity) break;
            EV_SET(&out[n], w.first, EVFILT_WRITE, EV_EOF, error, 0, w.second);
            ++n;
        }
        kernel.scripted_events += n;
        kernel.on_wait = nullptr; // once
        return n;
    };
}

std::error_code connect_through_fake(std::vector<sluice::endpoint> targets,
                                     sluice::connect_options opt = {}) {
    sluice::loop loop(sluice::backend::kqueue);
    REQUIRE_FALSE(loop.status());
    sluice::tcp_stream client(loop);
    std::error_code result = sluice::error::in_progress;
    client.connect(
        std::move(targets), [&](std::error_code ec) { result = ec; }, opt);
    // The fake never blocks, so each turn returns at once: a bounded number of them.
    for (int turn = 0; turn < 1000 && result == sluice::error::in_progress; ++turn) loop.poll();
    return result;
}

} // namespace

TEST_CASE("kqueue set: adding write to a read-watched fd submits only EVFILT_WRITE EV_ADD") {
    poller_fixture f;
    REQUIRE_FALSE(f.poller.set(f.fd, 0, ev_read, &f.user));
    kernel.reset();
    REQUIRE_FALSE(f.poller.set(f.fd, ev_read, ev_read | ev_write, &f.user));
    REQUIRE(kernel.changes.size() == 1);
    CHECK(kernel.changes[0].ident == static_cast<std::uintptr_t>(f.fd));
    CHECK(kernel.changes[0].filter == EVFILT_WRITE);
    CHECK((kernel.changes[0].flags & EV_ADD));
    CHECK_FALSE((kernel.changes[0].flags & EV_DELETE));
}

TEST_CASE("kqueue set: dropping read from read|write submits only EVFILT_READ EV_DELETE") {
    poller_fixture f;
    REQUIRE_FALSE(f.poller.set(f.fd, 0, ev_read | ev_write, &f.user));
    kernel.reset();
    REQUIRE_FALSE(f.poller.set(f.fd, ev_read | ev_write, ev_write, &f.user));
    REQUIRE(kernel.changes.size() == 1);
    CHECK(kernel.changes[0].filter == EVFILT_READ);
    CHECK(kernel.changes[0].flags == EV_DELETE);
}

TEST_CASE("kqueue set: an unchanged mask costs no kevent call; 0 <-> both changes two filters") {
    poller_fixture f;
    REQUIRE_FALSE(f.poller.set(f.fd, 0, ev_read | ev_write, &f.user));
    CHECK(kernel.change_calls == 1);
    REQUIRE(kernel.changes.size() == 2);
    CHECK((kernel.changes[0].flags & EV_ADD));
    CHECK((kernel.changes[1].flags & EV_ADD));
    kernel.reset();
    REQUIRE_FALSE(f.poller.set(f.fd, ev_read | ev_write, ev_read | ev_write, &f.user));
    CHECK(kernel.change_calls == 0);
    REQUIRE_FALSE(f.poller.set(f.fd, ev_read | ev_write, 0, &f.user));
    REQUIRE(kernel.changes.size() == 2);
    CHECK(kernel.changes[0].flags == EV_DELETE);
    CHECK(kernel.changes[1].flags == EV_DELETE);
    CHECK(kernel.registered.empty());
}

TEST_CASE("kqueue connect: a refusal reported on the event (EV_EOF, fflags) fails the connect") {
    kernel = fake_kernel{};
    raw_listener accepting;
    script_connect_end(1, ECONNREFUSED);
    std::error_code result = connect_through_fake({sluice::endpoint::loopback_v4(accepting.port)});
    CHECK(kernel.scripted_events == 1);
    CHECK(result == std::errc::connection_refused);
}

TEST_CASE("kqueue connect: a refusal on the event fails parallel (Happy Eyeballs) attempts too") {
    kernel = fake_kernel{};
    raw_listener accepting;
    sluice::connect_options opt;
    opt.attempt_delay = std::chrono::milliseconds(0); // the second address starts at once
    script_connect_end(2, ECONNREFUSED);
    std::error_code result = connect_through_fake({sluice::endpoint::loopback_v4(accepting.port),
                                                   sluice::endpoint::loopback_v4(accepting.port)},
                                                  opt);
    // Two write filters at once: the stream's own socket and a parallel attempt's.
    CHECK(kernel.scripted_events == 2);
    CHECK(result == std::errc::connection_refused);
}

TEST_CASE("kqueue connect: EV_EOF without an error falls back to SO_ERROR") {
    kernel = fake_kernel{};
    std::uint16_t dead_port;
    {
        raw_listener closed_again;
        dead_port = closed_again.port;
    }
    script_connect_end(1, 0);
    std::error_code result = connect_through_fake({sluice::endpoint::loopback_v4(dead_port)});
    CHECK(result == std::errc::connection_refused);

    raw_listener accepting;
    script_connect_end(1, 0);
    result = connect_through_fake({sluice::endpoint::loopback_v4(accepting.port)});
    CHECK_FALSE(result);
}
