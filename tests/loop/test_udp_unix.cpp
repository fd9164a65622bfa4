// UDP datagrams and Unix domain stream sockets.
//
// Not on Windows (compiled out below, by SLUICE_HAS_UNIX_SOCKETS): "Unix domain stream
// sockets echo" (the library has no AF_UNIX support there).
#include "common.hpp"

#include <cstdio>
#include <set>

using namespace std::chrono_literals;

TEST_CASE("UDP: send_to / recv_from on loopback, sender address reported") {
    test::bounded_loop loop;
    sluice::udp_socket a(loop), b(loop);
    REQUIRE_FALSE(a.bind(sluice::endpoint::loopback_v4(0)));
    REQUIRE_FALSE(b.bind(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto a_ep = a.local_endpoint(ec);
    auto b_ep = b.local_endpoint(ec);
    std::set<std::string> got;
    sluice::endpoint from;
    a.recv_each([&](std::error_code e, std::string_view d, const sluice::endpoint& f) {
        REQUIRE_FALSE(e);
        got.insert(std::string(d));
        from = f;
    });
    for (int i = 0; i < 50; ++i) b.send_to(a_ep, "datagram " + std::to_string(i));
    REQUIRE(loop.run_until([&] { return got.size() == 50; }));
    CHECK(from == b_ep);
    CHECK(got.count("datagram 49") == 1);
}

// Regression: a readiness event used to deliver one datagram, so a game loop calling
// poll() once per frame read one input per frame while the rest piled up in the kernel.
TEST_CASE("UDP: recv_each drains a burst in one poll(), and recv_stop ends the burst") {
    test::bounded_loop loop;
    sluice::udp_socket a(loop), b(loop);
    REQUIRE_FALSE(a.bind(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto a_ep = a.local_endpoint(ec);
    for (int i = 0; i < 40; ++i) b.send_to(a_ep, "input " + std::to_string(i));
    int got = 0;
    a.recv_each([&](std::error_code e, std::string_view, const sluice::endpoint&) {
        REQUIRE_FALSE(e);
        if (++got == 30) a.recv_stop();
    });
    loop.poll();
    CHECK(got == 30); // all it asked for in one turn, and not one after recv_stop
    a.recv_each([&](std::error_code e, std::string_view, const sluice::endpoint&) {
        REQUIRE_FALSE(e);
        ++got;
    });
    loop.poll();
    CHECK(got == 40); // the other ten stayed queued in the kernel, none lost
}

TEST_CASE("UDP: connected mode and a truncated datagram") {
    test::bounded_loop loop;
    sluice::udp_socket server(loop), client(loop);
    REQUIRE_FALSE(server.bind(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto server_ep = server.local_endpoint(ec);
    REQUIRE_FALSE(client.connect(server_ep));
    char small[4];
    std::error_code recv_ec;
    std::string recv_data;
    server.recv_from({small, sizeof small},
                     [&](std::error_code e, std::string_view d, const sluice::endpoint&) {
                         recv_ec = e;
                         recv_data = std::string(d);
                     });
    std::size_t sent = 0;
    client.send("0123456789", [&](std::error_code e, std::size_t n) {
        REQUIRE_FALSE(e);
        sent = n;
    });
    REQUIRE(loop.run_until([&] { return !recv_data.empty(); }));
    CHECK(sent == 10);
    CHECK(recv_data == "0123");
    CHECK(recv_ec == std::errc::message_size);

    // The reply comes back over the connected socket.
    auto client_ep = client.local_endpoint(ec);
    std::string reply;
    client.recv_each([&](std::error_code e, std::string_view d, const sluice::endpoint&) {
        if (!e) reply = std::string(d);
    });
    server.send_to(client_ep, "pong");
    REQUIRE(loop.run_until([&] { return reply == "pong"; }));
}

TEST_CASE("UDP: close aborts a pending receive exactly once") {
    test::bounded_loop loop;
    sluice::udp_socket s(loop);
    REQUIRE_FALSE(s.bind(sluice::endpoint::loopback_v4(0)));
    int calls = 0;
    std::error_code got;
    char buf[16];
    s.recv_from({buf, sizeof buf},
                [&](std::error_code e, std::string_view, const sluice::endpoint&) {
                    ++calls;
                    got = e;
                });
    s.close();
    loop.run_for(10ms);
    CHECK(calls == 1);
    CHECK(got == sluice::error::operation_aborted);
}

#if SLUICE_HAS_UNIX_SOCKETS
TEST_CASE("Unix domain stream sockets echo") {
    test::bounded_loop loop;
    std::string path = "/tmp/sluice-test-" + std::to_string(::getpid()) + ".sock";
    std::remove(path.c_str());
    sluice::unix_listener listener(loop);
    REQUIRE_FALSE(listener.listen(sluice::endpoint::unix_path(path)));
    sluice::unix_stream server_side;
    listener.accept([&](std::error_code ec, sluice::unix_stream s) {
        REQUIRE_FALSE(ec);
        server_side = std::move(s);
        server_side.read_start([&](std::error_code ec, std::string_view d) {
            if (!ec) server_side.write(d);
        });
    });
    sluice::unix_stream client(loop);
    std::string echoed;
    const std::string message = test::pattern(200000, 3);
    client.connect(sluice::endpoint::unix_path(path), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        client.write(message);
        client.read_start([&](std::error_code ec, std::string_view d) {
            if (!ec) echoed.append(d);
        });
    });
    REQUIRE(loop.run_until([&] { return echoed.size() == message.size(); }));
    CHECK(echoed == message);
    // A second listener on the same path is refused rather than stealing it.
    sluice::unix_listener second(loop);
    CHECK(second.listen(sluice::endpoint::unix_path(path)) == std::errc::address_in_use);
    std::remove(path.c_str());
}
#endif
