// loop_group: N loops on N threads sharing one port, spread by SO_REUSEPORT or by an
// acceptor loop handing sockets to workers (round robin, least connections).
// Clients are plain blocking sockets on the test thread; the group runs on its own.
//
// On Windows: "SO_REUSEPORT spreads connections over every loop" is compiled out (Windows
// has no SO_REUSEPORT; a test there checks that spread::reuse_port with two loops is
// refused instead), and tcp_stream::adopt gets the two ends of a loopback TCP connection
// instead of an AF_UNIX socketpair.
#include "common.hpp"

#include <thread>
#include <vector>

namespace {

using test::portable::socket_t;

// Each connection answers every byte it reads with the index of the loop it runs on.
struct group_fixture {
    explicit group_fixture(std::size_t loops, const sluice::group_listen_options& opt)
        : group(loops, test::backend_under_test()) {
        REQUIRE_FALSE(group.status());
        REQUIRE_FALSE(group.listen(
            sluice::endpoint::loopback_v4(0),
            [this](sluice::tcp_stream s) {
                char index = 0;
                for (std::size_t i = 0; i < group.size(); ++i)
                    if (s.get_loop() == &group.at(i)) index = static_cast<char>('0' + i);
                auto* conn = new sluice::tcp_stream(std::move(s));
                conn->read_start([conn, index](std::error_code ec, std::string_view data) {
                    if (ec) return delete conn;
                    conn->write(std::string(data.size(), index));
                });
            },
            opt));
        std::error_code ec;
        port = group.local_endpoint(ec).port();
        REQUIRE_FALSE(ec);
        runner = std::thread([this] { group.run(std::chrono::milliseconds(200)); });
    }
    ~group_fixture() {
        group.stop();
        runner.join();
    }

    // Connects, sends one byte, returns the socket and the serving loop's index.
    std::pair<socket_t, int> connect_one() {
        socket_t fd = test::portable::connect_loopback(port);
        REQUIRE(fd != test::portable::bad_socket);
        test::portable::set_recv_timeout(fd, std::chrono::seconds(5));
        REQUIRE(test::portable::send_some(fd, "x", 1) == 1);
        char c = 0;
        REQUIRE(test::portable::recv_some(fd, &c, 1) == 1);
        return {fd, c - '0'};
    }

    bool wait_for(std::size_t loop_index, std::size_t connections) {
        for (int i = 0; i < 500; ++i) {
            if (group.connections(loop_index) == connections) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

    sluice::loop_group group;
    std::uint16_t port = 0;
    std::thread runner;
};

sluice::group_listen_options acceptor(sluice::handoff_policy p) {
    sluice::group_listen_options o;
    o.spread = sluice::spread::acceptor;
    o.policy = p;
    return o;
}

} // namespace

#if defined(_WIN32)
TEST_CASE("loop_group: spread::reuse_port with two loops is refused (no SO_REUSEPORT)") {
    sluice::loop_group group(2, test::backend_under_test());
    REQUIRE_FALSE(group.status());
    sluice::group_listen_options reuse;
    reuse.spread = sluice::spread::reuse_port;
    auto ec = group.listen(
        sluice::endpoint::loopback_v4(0), [](sluice::tcp_stream) {}, reuse);
    CHECK(ec == std::errc::not_supported);
    CHECK(sluice::default_spread == sluice::spread::acceptor); // so the defaults work here
    // One loop needs no spreading: that works, as does an acceptor over two.
    sluice::loop_group single(1, test::backend_under_test());
    CHECK_FALSE(single.listen(
        sluice::endpoint::loopback_v4(0), [](sluice::tcp_stream) {},
        sluice::group_listen_options{}));
    sluice::loop_group two(2, test::backend_under_test());
    CHECK_FALSE(two.listen(
        sluice::endpoint::loopback_v4(0), [](sluice::tcp_stream) {},
        acceptor(sluice::handoff_policy::round_robin)));
}
#else
TEST_CASE("loop_group: SO_REUSEPORT spreads connections over every loop") {
    std::vector<socket_t> fds;
    std::vector<int> per_loop(2);
    {
        group_fixture f(2, sluice::group_listen_options{});
        for (int i = 0; i < 64; ++i) {
            auto [fd, index] = f.connect_one();
            REQUIRE((index == 0 || index == 1));
            ++per_loop[static_cast<std::size_t>(index)];
            fds.push_back(fd);
        }
        CHECK(f.wait_for(0, static_cast<std::size_t>(per_loop[0])));
        CHECK(f.wait_for(1, static_cast<std::size_t>(per_loop[1])));
        for (socket_t fd : fds) test::portable::close_socket(fd);
        CHECK(f.wait_for(0, 0));
        CHECK(f.wait_for(1, 0));
    }
    // The kernel hashes the 4-tuple: 64 connections all on one loop has odds of 2^-63.
    CHECK(per_loop[0] > 0);
    CHECK(per_loop[1] > 0);
}
#endif

TEST_CASE("loop_group: an acceptor hands connections round robin") {
    group_fixture f(3, acceptor(sluice::handoff_policy::round_robin));
    std::vector<int> per_loop(3);
    std::vector<socket_t> fds;
    for (int i = 0; i < 30; ++i) {
        auto [fd, index] = f.connect_one();
        CHECK(index == i % 3); // served on the loop it was handed to
        ++per_loop[static_cast<std::size_t>(index)];
        fds.push_back(fd);
    }
    CHECK(per_loop == std::vector<int>{10, 10, 10});
    for (std::size_t i = 0; i < 3; ++i) CHECK(f.wait_for(i, 10));
    for (socket_t fd : fds) test::portable::close_socket(fd);
}

TEST_CASE("loop_group: least connections fills the emptier loop first") {
    for (auto policy :
         {sluice::handoff_policy::least_connections, sluice::handoff_policy::round_robin}) {
        CAPTURE(static_cast<int>(policy));
        group_fixture f(2, acceptor(policy));
        std::vector<socket_t> on0, on1;
        for (int i = 0; i < 6; ++i) {
            auto [fd, index] = f.connect_one();
            (index == 0 ? on0 : on1).push_back(fd);
        }
        CHECK(on0.size() == 3); // both policies alternate while the loads are equal
        CHECK(on1.size() == 3);
        for (socket_t fd : on1) test::portable::close_socket(fd);
        REQUIRE(f.wait_for(1, 0));
        REQUIRE(f.wait_for(0, 3));
        int to_loop1 = 0;
        std::vector<socket_t> later;
        for (int i = 0; i < 4; ++i) {
            auto [fd, index] = f.connect_one();
            to_loop1 += index == 1;
            later.push_back(fd);
        }
        if (policy == sluice::handoff_policy::least_connections)
            CHECK(to_loop1 >= 3); // 3 against 0: the next three must go to loop 1
        else
            CHECK(to_loop1 == 2);
        for (socket_t fd : on0) test::portable::close_socket(fd);
        for (socket_t fd : later) test::portable::close_socket(fd);
    }
}

TEST_CASE("loop_group: an acceptor that does not serve gives everything to the workers") {
    auto opt = acceptor(sluice::handoff_policy::least_connections);
    opt.acceptor_serves = false;
    group_fixture f(3, opt);
    std::vector<socket_t> fds;
    std::vector<int> per_loop(3);
    for (int i = 0; i < 12; ++i) {
        auto [fd, index] = f.connect_one();
        ++per_loop[static_cast<std::size_t>(index)];
        fds.push_back(fd);
    }
    CHECK(per_loop == std::vector<int>{0, 6, 6});
    for (socket_t fd : fds) test::portable::close_socket(fd);
}

TEST_CASE("loop_group: stop() from another thread ends run(); open connections are closed") {
    sluice::loop_group group(2, test::backend_under_test());
    REQUIRE_FALSE(group.status());
    std::vector<sluice::tcp_stream*> kept; // never freed by the handler: closed by shutdown
    std::mutex m;
    REQUIRE_FALSE(group.listen(
        sluice::endpoint::loopback_v4(0),
        [&](sluice::tcp_stream s) {
            auto* conn = new sluice::tcp_stream(std::move(s));
            {
                std::lock_guard<std::mutex> lock(m);
                kept.push_back(conn);
            }
            conn->read_start([](std::error_code, std::string_view) {});
        },
        acceptor(sluice::handoff_policy::round_robin)));
    std::error_code ec;
    std::uint16_t port = group.local_endpoint(ec).port();
    std::thread runner([&] { group.run(std::chrono::milliseconds(100)); });
    std::vector<socket_t> fds;
    for (int i = 0; i < 4; ++i) {
        socket_t fd = test::portable::connect_loopback(port);
        REQUIRE(fd != test::portable::bad_socket);
        fds.push_back(fd);
    }
    for (int i = 0; i < 500 && group.connections(0) + group.connections(1) < 4; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(group.connections(0) + group.connections(1) == 4);
    group.stop();
    runner.join();
    CHECK(group.connections(0) == 0);
    CHECK(group.connections(1) == 0);
    // Every server socket was closed: each client reads end of stream.
    for (socket_t fd : fds) {
        test::portable::set_recv_timeout(fd, std::chrono::seconds(5));
        char c;
        CHECK(test::portable::recv_some(fd, &c, 1) == 0);
        test::portable::close_socket(fd);
    }
    for (auto* s : kept) delete s;
}

TEST_CASE("tcp_stream::adopt runs a socket made elsewhere on a loop") {
    test::bounded_loop loop;
    socket_t sv[2] = {test::portable::bad_socket, test::portable::bad_socket};
    REQUIRE(test::portable::socket_pair(sv));
    std::error_code ec;
    sluice::tcp_stream s =
        sluice::tcp_stream::adopt(loop, static_cast<sluice::native_socket>(sv[0]), ec);
    REQUIRE_FALSE(ec);
    CHECK(loop.open_streams() == 1);
    std::string got;
    s.read_start([&](std::error_code e, std::string_view data) {
        if (!e) got.append(data);
    });
    REQUIRE(test::portable::send_some(sv[1], "hello", 5) == 5);
    CHECK(loop.run_until([&] { return got == "hello"; }));
    s.close();
    CHECK(loop.open_streams() == 0);
    test::portable::close_socket(sv[1]);
}
