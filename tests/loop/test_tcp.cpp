#include "common.hpp"

#include <functional>
#include <memory>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Echo server used by several tests: echoes with backpressure, counts sessions.
struct echo_server {
    sluice::tcp_listener listener;
    std::uint16_t port;
    int open_sessions = 0;
    std::vector<std::unique_ptr<sluice::tcp_stream>> sessions;

    explicit echo_server(sluice::loop& loop)
        : listener(loop), port(test::listen_loopback(listener)) {
        listener.accept_each([this](std::error_code ec, sluice::tcp_stream s) {
            if (ec) return;
            sessions.push_back(std::make_unique<sluice::tcp_stream>(std::move(s)));
            ++open_sessions;
            echo(*sessions.back());
        });
    }
    void echo(sluice::tcp_stream& s) {
        s.read_start([this, &s](std::error_code ec, std::string_view data) {
            if (ec) {
                --open_sessions;
                return s.close();
            }
            s.write(data);
            if (s.write_queue_high()) {
                s.read_stop();
                s.on_drain([this, &s] { echo(s); });
            }
        });
    }
};

} // namespace

TEST_CASE("64 MiB echo round trip: no byte lost or reordered") {
    test::bounded_loop loop;
    echo_server server(loop);
    sluice::tcp_stream client(loop);
    constexpr std::size_t total = 64u << 20, chunk = 256u << 10;
    const std::string block = test::pattern(chunk, 7);
    std::uint64_t sent_sum = test::fnv_seed, recv_sum = test::fnv_seed;
    std::size_t sent = 0, received = 0;
    bool connected = false;

    std::function<void()> send_more = [&] {
        // Keep about 1 MiB in flight: the next chunk goes when one completes.
        while (sent < total && client.buffered_amount() < (1u << 20)) {
            std::string_view piece(block.data() + (sent / chunk) % 3, chunk - 3);
            if (total - sent < piece.size()) piece = piece.substr(0, total - sent);
            sent_sum = test::fnv1a(sent_sum, piece);
            sent += piece.size();
            client.write(piece, [&](std::error_code ec, std::size_t) {
                REQUIRE_FALSE(ec);
                send_more();
            });
        }
    };
    client.connect(sluice::endpoint::loopback_v4(server.port), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        connected = true;
        client.read_start([&](std::error_code ec, std::string_view data) {
            REQUIRE_FALSE(ec);
            recv_sum = test::fnv1a(recv_sum, data);
            received += data.size();
        });
        send_more();
    });
    REQUIRE(loop.run_until([&] { return received == total; }, 120s));
    CHECK(connected);
    CHECK(sent == total);
    CHECK(recv_sum == sent_sum);
}

TEST_CASE("connect falls back to the next address when the first refuses") {
    test::bounded_loop loop;
    echo_server server(loop);
    // A port with nothing listening: bind a listener, read its port, close it.
    std::uint16_t dead_port;
    {
        sluice::tcp_listener tmp(loop);
        dead_port = test::listen_loopback(tmp);
    }
    sluice::tcp_stream client(loop);
    std::error_code result = sluice::error::in_progress;
    client.connect(std::vector<sluice::endpoint>{sluice::endpoint::loopback_v4(dead_port),
                                                 sluice::endpoint::loopback_v4(server.port)},
                   [&](std::error_code ec) { result = ec; });
    REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
    CHECK_FALSE(result);
    std::error_code ec;
    CHECK(client.remote_endpoint(ec).port() == server.port);

    sluice::tcp_stream refused(loop);
    result = sluice::error::in_progress;
    refused.connect(sluice::endpoint::loopback_v4(dead_port),
                    [&](std::error_code ec) { result = ec; });
    REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
    CHECK(result == std::errc::connection_refused);
}

TEST_CASE("connect by name resolves on the thread pool") {
    test::bounded_loop loop;
    echo_server server(loop);
    sluice::tcp_stream client(loop);
    std::error_code result = sluice::error::in_progress;
    client.connect("localhost", server.port, [&](std::error_code ec) { result = ec; });
    REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
    CHECK_FALSE(result);

    sluice::tcp_stream bad(loop);
    result = sluice::error::in_progress;
    bad.connect("no-such-host.invalid", 80, [&](std::error_code ec) { result = ec; });
    REQUIRE(loop.run_until([&] { return result != sluice::error::in_progress; }));
    CHECK(result);
}

TEST_CASE("closing with pending operations completes each exactly once with operation_aborted") {
    test::bounded_loop loop;
    echo_server server(loop);
    sluice::tcp_stream client(loop);
    bool connected = false;
    client.connect(sluice::endpoint::loopback_v4(server.port),
                   [&](std::error_code ec) { connected = !ec; });
    REQUIRE(loop.run_until([&] { return connected; }));

    int read_calls = 0, write_calls = 0, accept_calls = 0, timer_calls = 0, connect_calls = 0;
    std::error_code read_ec, accept_ec, timer_ec, connect_ec;
    char buf[16];
    client.read_some({buf, sizeof buf}, [&](std::error_code ec, std::size_t) {
        ++read_calls;
        read_ec = ec;
    });
    client.set_write_limits({1, 2, 1u << 30});
    client.write(std::string(8u << 20, 'x'), [&](std::error_code, std::size_t) { ++write_calls; });
    sluice::tcp_listener idle(loop);
    test::listen_loopback(idle);
    idle.accept([&](std::error_code ec, sluice::tcp_stream) {
        ++accept_calls;
        accept_ec = ec;
    });
    sluice::timer t(loop);
    t.start(10s, [&](std::error_code ec) {
        ++timer_calls;
        timer_ec = ec;
    });
    sluice::tcp_stream connecting(loop);
    connecting.connect(sluice::endpoint::loopback_v4(server.port), [&](std::error_code ec) {
        ++connect_calls;
        connect_ec = ec;
    });
    client.close();
    idle.close();
    t.close();
    connecting.close();
    CHECK(read_calls + write_calls + accept_calls + timer_calls + connect_calls ==
          0); // never inline
    loop.run_for(50ms);
    CHECK(read_calls == 1);
    CHECK(read_ec == sluice::error::operation_aborted);
    CHECK(write_calls == 1);
    CHECK(accept_calls == 1);
    CHECK(accept_ec == sluice::error::operation_aborted);
    CHECK(timer_calls == 1);
    CHECK(timer_ec == sluice::error::operation_aborted);
    CHECK(connect_calls == 1);
    CHECK(connect_ec == sluice::error::operation_aborted);

    // Operations on a closed handle fail (once, later) instead of touching the socket.
    std::error_code late;
    client.read_some({buf, sizeof buf}, [&](std::error_code ec, std::size_t) { late = ec; });
    loop.run_for(10ms);
    CHECK(late == sluice::error::not_open);
}

TEST_CASE("destroying the handle from inside its own read handler is safe") {
    test::bounded_loop loop;
    echo_server server(loop);
    auto client = std::make_unique<sluice::tcp_stream>(loop);
    bool done = false;
    client->connect(sluice::endpoint::loopback_v4(server.port), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        client->read_start([&](std::error_code, std::string_view) {
            client.reset(); // the handler's owner goes away mid-callback
            done = true;
        });
        client->write("ping");
    });
    REQUIRE(loop.run_until([&] { return done; }));
    loop.run_for(10ms);
    CHECK_FALSE(client);
}

TEST_CASE("a peer reset mid-write fails the write, never kills the process (no SIGPIPE)") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream accepted;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        accepted = std::move(s);
        // On the first byte: reset instead of FIN (SO_LINGER with a zero timeout).
        accepted.read_start([&](std::error_code, std::string_view) {
            test::portable::reset_on_close(
                static_cast<test::portable::socket_t>(accepted.native_handle()));
            accepted.close();
        });
    });
    sluice::tcp_stream client(loop);
    bool connected = false;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        connected = true;
        client.write("x");
    });
    REQUIRE(loop.run_until([&] { return connected && !accepted.is_open() && accepted.impl(); }));
    loop.run_for(20ms); // the reset arrives
    std::error_code write_error;
    const std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 64 && !write_error; ++i) {
        client.write(chunk, [&](std::error_code ec, std::size_t) {
            if (ec) write_error = ec;
        });
        loop.run_for(2ms);
    }
    REQUIRE(loop.run_until([&] { return static_cast<bool>(write_error); }));
    CHECK((write_error == std::errc::broken_pipe || write_error == std::errc::connection_reset));
}

TEST_CASE("a stalled reader: the writer's queue hits its cap and the stream fails; memory "
          "stays bounded") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream never_reads;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        never_reads = std::move(s);
    });
    sluice::tcp_stream writer(loop);
    writer.connect(sluice::endpoint::loopback_v4(port),
                   [](std::error_code ec) { REQUIRE_FALSE(ec); });
    REQUIRE(loop.run_until([&] { return writer.connected() && never_reads.is_open(); }));
    constexpr std::size_t cap = 4u << 20;
    writer.set_write_limits({cap / 4, cap / 2, cap});
    const std::string chunk(64 * 1024, 'q');
    std::size_t accepted_bytes = 0;
    bool full = false;
    for (int i = 0; i < 2000 && !full; ++i) {
        writer.write(chunk, [&](std::error_code ec, std::size_t n) {
            if (ec == sluice::error::write_queue_full)
                full = true;
            else
                accepted_bytes += n;
        });
        loop.poll();
        CHECK(writer.buffered_amount() <= cap);
    }
    REQUIRE(loop.run_until([&] { return full; }));
    // The refused write failed the stream (no later write may follow the missing bytes),
    // which dropped the queue.
    CHECK_FALSE(writer.is_open());
    CHECK(writer.buffered_amount() == 0);
    CHECK(accepted_bytes < 2000 * chunk.size());
}

TEST_CASE("watermarks: write_queue_high at the high mark, one-shot on_drain at the low mark") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream slow;
    std::size_t drained_by_peer = 0;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        slow = std::move(s);
    });
    sluice::tcp_stream writer(loop);
    writer.connect(sluice::endpoint::loopback_v4(port),
                   [](std::error_code ec) { REQUIRE_FALSE(ec); });
    REQUIRE(loop.run_until([&] { return writer.connected() && slow.is_open(); }));
    writer.set_write_limits({64 * 1024, 1u << 20, 64u << 20});
    int drains = 0;
    writer.write(std::string(8u << 20, 'w'));
    CHECK(writer.buffered_amount() > (1u << 20));
    CHECK(writer.write_queue_high());
    writer.on_drain([&] {
        ++drains;
        CHECK(writer.buffered_amount() <= 64 * 1024);
    });
    slow.read_start([&](std::error_code ec, std::string_view d) {
        if (!ec) drained_by_peer += d.size();
    });
    REQUIRE(loop.run_until([&] { return drained_by_peer == (8u << 20); }));
    CHECK(drains == 1); // one-shot
    CHECK_FALSE(writer.write_queue_high());
    // Registered while already drained: runs on the next turn, never inline.
    writer.on_drain([&] { ++drains; });
    CHECK(drains == 1);
    loop.poll();
    CHECK(drains == 2);
}

TEST_CASE("half-close: FIN after queued data, the peer can still answer") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream server_side;
    std::string server_got;
    bool server_saw_eof = false;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        server_side = std::move(s);
        server_side.read_start([&](std::error_code ec, std::string_view d) {
            if (ec == sluice::error::eof) {
                server_saw_eof = true;
                server_side.write("reply after eof");
                server_side.close_after_flush();
                return;
            }
            server_got.append(d);
        });
    });
    sluice::tcp_stream client(loop);
    std::string client_got;
    bool client_eof = false;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        client.write("request");
        client.shutdown_write();
        client.read_start([&](std::error_code ec, std::string_view d) {
            if (ec)
                client_eof = ec == sluice::error::eof;
            else
                client_got.append(d);
        });
    });
    REQUIRE(loop.run_until([&] { return client_eof; }));
    CHECK(server_got == "request");
    CHECK(server_saw_eof);
    CHECK(client_got == "reply after eof");
}

TEST_CASE("idle timeout closes a silent connection with timed_out") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream server_side;
    std::error_code server_read;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        server_side = std::move(s);
        server_side.set_timeouts(60ms, 0ms, 0ms);
        server_side.read_start([&](std::error_code ec, std::string_view) {
            if (ec) server_read = ec;
        });
    });
    sluice::tcp_stream client(loop);
    client.connect(sluice::endpoint::loopback_v4(port), [](std::error_code) {});
    auto start = std::chrono::steady_clock::now();
    REQUIRE(loop.run_until([&] { return static_cast<bool>(server_read); }));
    CHECK(server_read == sluice::error::timed_out);
    CHECK(server_read == std::errc::timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 60ms);
    CHECK_FALSE(server_side.is_open());
}

TEST_CASE("IPv6 loopback listener and port 0") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto ec = listener.listen(sluice::endpoint::loopback_v6(0));
    if (ec == std::errc::address_not_available || ec == std::errc::address_family_not_supported) {
        MESSAGE("no IPv6 on this host: " << ec.message());
        FAIL("IPv6 loopback is required for the test suite");
    }
    REQUIRE_FALSE(ec);
    auto ep = listener.local_endpoint(ec);
    CHECK(ep.family() == AF_INET6);
    CHECK(ep.port() != 0);
    bool accepted = false;
    listener.accept([&](std::error_code e, sluice::tcp_stream) { accepted = !e; });
    sluice::tcp_stream c(loop);
    c.connect(ep, [](std::error_code e) { REQUIRE_FALSE(e); });
    REQUIRE(loop.run_until([&] { return accepted; }));
    CHECK(ep.to_string().rfind("[::1]:", 0) == 0);
}

TEST_CASE("broadcast: one shared payload queued on many streams without copies") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    std::vector<sluice::tcp_stream> peers;
    std::vector<std::size_t> got(8, 0);
    listener.accept_each([&](std::error_code ec, sluice::tcp_stream s) {
        if (!ec) peers.push_back(std::move(s));
    });
    std::vector<sluice::tcp_stream> clients;
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back(loop);
        clients.back().connect(sluice::endpoint::loopback_v4(port),
                               [](std::error_code ec) { REQUIRE_FALSE(ec); });
    }
    REQUIRE(loop.run_until([&] { return peers.size() == 8; }));
    const std::string big(4u << 20, 'b');
    sluice::shared_bytes payload(big.data(), big.size());
    for (auto& p : peers) p.write(payload);
    // Whatever could not be sent at once is queued by reference, not copied.
    CHECK(payload.use_count() > 1);
    for (std::size_t i = 0; i < clients.size(); ++i)
        clients[i].read_start([&got, i](std::error_code ec, std::string_view d) {
            if (!ec) got[i] += d.size();
        });
    REQUIRE(loop.run_until([&] {
        for (auto n : got)
            if (n != (4u << 20)) return false;
        return true;
    }));
    CHECK(payload.use_count() == 1);
}

TEST_CASE("a connection costs one pointer in the user's hands and <= 128 bytes in the loop") {
    CHECK(sizeof(sluice::tcp_stream) == sizeof(void*));
    CHECK(sizeof(sluice::detail::stream_impl) <= 128);
    MESSAGE("sizeof(tcp_stream)=" << sizeof(sluice::tcp_stream) << " sizeof(stream_impl)="
                                  << sizeof(sluice::detail::stream_impl));
}

TEST_CASE("read timeout: a pending read that gets no data fails with timed_out") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream silent_peer;
    listener.accept([&](std::error_code, sluice::tcp_stream s) { silent_peer = std::move(s); });
    sluice::tcp_stream client(loop);
    std::error_code read_ec;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        client.set_timeouts(0ms, 50ms, 0ms);
        client.read_start([&](std::error_code ec, std::string_view) {
            if (ec) read_ec = ec;
        });
    });
    REQUIRE(loop.run_until([&] { return static_cast<bool>(read_ec); }));
    CHECK(read_ec == sluice::error::timed_out);
}

TEST_CASE("write timeout: queued bytes that make no progress fail with timed_out") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream never_reads;
    listener.accept([&](std::error_code, sluice::tcp_stream s) { never_reads = std::move(s); });
    sluice::tcp_stream writer(loop);
    writer.connect(sluice::endpoint::loopback_v4(port),
                   [](std::error_code ec) { REQUIRE_FALSE(ec); });
    REQUIRE(loop.run_until([&] { return writer.connected() && never_reads.is_open(); }));
    writer.set_timeouts(0ms, 0ms, 80ms);
    std::error_code write_ec;
    writer.write(std::string(32u << 20, 'v'),
                 [&](std::error_code ec, std::size_t) { write_ec = ec; });
    REQUIRE(writer.buffered_amount() > 0);
    REQUIRE(loop.run_until([&] { return static_cast<bool>(write_ec); }));
    CHECK(write_ec == sluice::error::timed_out);
    CHECK_FALSE(writer.is_open());
}

TEST_CASE("closing a listener from inside its own accept_each handler is safe") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    std::vector<sluice::tcp_stream> accepted;
    int aborted = 0;
    std::string tag(64, 't'); // a capture too large for the inline buffer: lives on the heap
    listener.accept_each([&, tag](std::error_code ec, sluice::tcp_stream s) {
        if (ec) {
            ++aborted;
            return;
        }
        accepted.push_back(std::move(s));
        listener.close(); // destroys/moves this very handler while it runs
        CHECK(tag.size() == 64);
    });
    sluice::tcp_stream c1(loop), c2(loop);
    c1.connect(sluice::endpoint::loopback_v4(port), [](std::error_code) {});
    c2.connect(sluice::endpoint::loopback_v4(port), [](std::error_code) {});
    REQUIRE(loop.run_until([&] { return accepted.size() == 1; }));
    loop.run_for(20ms);
    CHECK(accepted.size() == 1);
    CHECK(aborted == 0); // the handler was running when closed: nothing left to abort
    CHECK_FALSE(listener.is_open());
}

TEST_CASE("write_queue_high: an empty queue is never high, even with a high watermark of 0") {
    test::bounded_loop loop;
    echo_server server(loop);
    sluice::tcp_stream client(loop);
    bool connected = false;
    client.connect(sluice::endpoint::loopback_v4(server.port),
                   [&](std::error_code ec) { connected = !ec; });
    REQUIRE(loop.run_until([&] { return connected; }));
    client.set_write_limits({0, 0, 1u << 30}); // "any byte queued is high"
    // The echo comes back: read and drop it, or small socket buffers (Windows) deadlock
    // the echo server's writes and with them the drain.
    client.read_start([](std::error_code, std::string_view) {});
    CHECK(client.buffered_amount() == 0);
    CHECK_FALSE(client.write_queue_high());
    client.write(std::string(8u << 20, 'x')); // more than the kernel takes at once
    CHECK(client.buffered_amount() > 0);
    CHECK(client.write_queue_high());
    bool drained = false;
    client.on_drain([&] { drained = true; });
    REQUIRE(loop.run_until([&] { return drained; }));
    CHECK(client.buffered_amount() == 0);
    CHECK_FALSE(client.write_queue_high());
}
