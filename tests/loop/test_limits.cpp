// Descriptor limits: select's FD_SETSIZE and accept under EMFILE, both provoked with
// setrlimit(RLIMIT_NOFILE).
//
// Not on Windows (compiled out below): both tests. There is no setrlimit and no
// per-process descriptor limit to lower, so "accept under EMFILE backs off" cannot be
// provoked; and Winsock's FD_SETSIZE bounds how many sockets one fd_set holds, not their
// values, so "select refuses descriptors >= FD_SETSIZE" is replaced there by a test of
// that count (SLUICE_FD_SETSIZE sockets per loop).
#include "common.hpp"

#include <memory>
#include <vector>

#if defined(_WIN32)

TEST_CASE("select watches at most SLUICE_FD_SETSIZE sockets; the next gets fd_too_large") {
    if (test::backend_under_test() != sluice::backend::select) return; // select-specific
    constexpr std::size_t limit = SLUICE_FD_SETSIZE;
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop); // watched while it accepts: one socket of the set
    auto port = test::listen_loopback(listener);
    std::vector<sluice::tcp_stream> accepted; // held, never read: not watched
    listener.accept_each([&](std::error_code ec, sluice::tcp_stream s) {
        if (!ec) accepted.push_back(std::move(s));
    });
    // Clients that keep reading stay in the set; add them until one is refused.
    std::vector<std::unique_ptr<sluice::tcp_stream>> clients;
    std::error_code refused;
    std::size_t connected = 0;
    while (!refused && clients.size() <= limit) {
        clients.push_back(std::make_unique<sluice::tcp_stream>(loop));
        auto* c = clients.back().get();
        std::error_code result = sluice::error::in_progress;
        c->connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) { result = ec; });
        REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
        if (result) {
            refused = result;
            CHECK(c->native_handle() == sluice::invalid_socket);
            break;
        }
        ++connected;
        c->read_start([](std::error_code, std::string_view) {});
    }
    CHECK(refused == sluice::error::fd_too_large);
    MESSAGE(connected << " reading clients beside the listener with SLUICE_FD_SETSIZE " << limit);
    CHECK(connected < limit);      // the listener (and the loop's wakeup) count too
    CHECK(connected + 4 >= limit); // and nothing much else
    // A slot freed is a slot to use.
    clients.front()->close();
    loop.run_for(std::chrono::milliseconds(10));
    sluice::tcp_stream again(loop);
    std::error_code result = sluice::error::in_progress;
    again.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) { result = ec; });
    REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
    CHECK_FALSE(result);
}

#else
#include <sys/resource.h>

using namespace std::chrono_literals;

TEST_CASE("select refuses descriptors >= FD_SETSIZE with a clear error") {
    if (test::backend_under_test() != sluice::backend::select) return; // select-specific
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    REQUIRE(lim.rlim_max > FD_SETSIZE + 10);
    rlimit raised = lim;
    raised.rlim_cur = FD_SETSIZE + 10;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    // Occupy descriptors until the next socket lands at or above FD_SETSIZE.
    std::vector<int> fillers;
    while (true) {
        int fd = ::dup(0);
        REQUIRE(fd >= 0);
        if (fd >= FD_SETSIZE - 1) {
            ::close(fd);
            break;
        }
        fillers.push_back(fd);
    }
    int pad = ::dup(0); // now FD_SETSIZE - 1 is taken too
    sluice::tcp_stream client(loop);
    std::error_code result = sluice::error::in_progress;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) { result = ec; });
    REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
    CHECK(client.native_handle() == sluice::invalid_socket);
    CHECK(result == sluice::error::fd_too_large);
    for (int fd : fillers) ::close(fd);
    ::close(pad);
    ::setrlimit(RLIMIT_NOFILE, &lim);
}

TEST_CASE("accept under EMFILE backs off instead of spinning, keeps the listener, recovers") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    // Eight clients complete their handshakes into the backlog; nothing accepts yet.
    std::vector<sluice::tcp_stream> clients;
    int connected = 0;
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back(loop);
        clients.back().connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) {
            if (!ec) ++connected;
        });
    }
    REQUIRE(loop.run_until([&] { return connected == 8; }));
    // Lower the limit to the lowest free descriptor: accept() has none left.
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    int lowest_free = ::dup(0);
    REQUIRE(lowest_free >= 0);
    ::close(lowest_free);
    rlimit tight = lim;
    tight.rlim_cur = static_cast<rlim_t>(lowest_free);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    int accepted = 0;
    std::vector<sluice::tcp_stream> kept;
    listener.accept_each([&](std::error_code ec, sluice::tcp_stream s) {
        if (ec) return;
        ++accepted;
        kept.push_back(std::move(s));
    });
    loop.run_for(450ms);
    auto backoffs = listener.descriptor_backoffs();
    ::setrlimit(RLIMIT_NOFILE, &lim);
    CHECK(accepted == 0);
    CHECK(backoffs >= 2);
    CHECK(backoffs <= 10); // ~100 ms per back-off: no spinning
    CHECK(listener.is_open());
    REQUIRE(loop.run_until([&] { return accepted == 8; }, 5s));
}
#endif // _WIN32
