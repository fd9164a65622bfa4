// The pooled client (http::client) against sluice servers and raw peers on loopback:
// reuse, limits, the queue cap, idle detection, retry, timeouts, redirects, streamed
// bodies both ways, and cancellation.
#include "pool_common.hpp"

#include <map>
#include <memory>

#ifdef __linux__
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

using namespace std::chrono_literals;
namespace http = sluice::http;

namespace {

using pool_test::into;
using pool_test::outcome;

// A sluice server behind a listener of our own, so that accepted connections are counted.
struct counted_server {
    http::server server;
    sluice::tcp_listener listener;
    std::uint16_t port = 0;
    int accepted = 0;

    counted_server(sluice::loop& l, http::server_settings s = {}) : server(l, std::move(s)), listener(l) {
        port = test::listen_loopback(listener);
        listener.accept_each([this](std::error_code ec, sluice::tcp_stream st) {
            if (ec) return;
            ++accepted;
            server.serve(std::move(st));
        });
    }
    std::string url(std::string_view path) const {
        return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
    }
};

// Answers each request on a connection with 200 "ok", except that on the first
// connection it reads the second request and closes without answering: the server
// giving up a kept connection just as the client reuses it.
struct flaky_server {
    sluice::tcp_listener listener;
    std::uint16_t port = 0;
    int accepted = 0;
    std::vector<std::unique_ptr<sluice::tcp_stream>> conns;

    explicit flaky_server(sluice::loop& l) : listener(l) {
        port = test::listen_loopback(listener);
        listener.accept_each([this](std::error_code ec, sluice::tcp_stream st) {
            if (ec) return;
            int index = accepted++;
            conns.push_back(std::make_unique<sluice::tcp_stream>(std::move(st)));
            sluice::tcp_stream* s = conns.back().get();
            auto buf = std::make_shared<std::string>();
            auto seen = std::make_shared<int>(0);
            s->read_start([s, buf, seen, index](std::error_code e, std::string_view d) {
                if (e) return;
                buf->append(d);
                std::size_t end;
                while ((end = buf->find("\r\n\r\n")) != std::string::npos) {
                    std::string head = buf->substr(0, end);
                    std::size_t cl = 0, p = head.find("Content-Length: ");
                    if (p != std::string::npos) cl = std::stoul(head.substr(p + 16));
                    if (buf->size() < end + 4 + cl) return;
                    buf->erase(0, end + 4 + cl);
                    if (index == 0 && ++*seen == 2) return s->close();
                    s->write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
                }
            });
        });
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/"; }
};

} // namespace

TEST_CASE("pool: sequential requests share one connection") {
    test::bounded_loop loop;
    counted_server srv(loop);
    srv.server.on_request([](const http::request_view& req, http::response& res) {
        res.end("hello " + std::string(req.path()));
    });
    http::client c(loop);
    for (int i = 0; i < 10; ++i) {
        outcome o;
        c.get(srv.url("/n" + std::to_string(i)), into(o));
        CHECK(o.calls == 0); // never inside request()
        REQUIRE(loop.run_until([&] { return o.calls == 1; }));
        REQUIRE_FALSE(o.ec);
        CHECK(o.res.status == 200);
        CHECK(o.res.body == "hello /n" + std::to_string(i));
    }
    CHECK(srv.accepted == 1);
    CHECK(c.connections_opened() == 1);
    CHECK(c.idle_connections() == 1);
}

TEST_CASE("pool: concurrent requests stay within the per-origin limit") {
    test::bounded_loop loop;
    counted_server srv(loop);
    srv.server.on_request([](const http::request_view& req, http::response& res) {
        res.end(std::string(req.path()));
    });
    http::client_settings s;
    s.max_connections_per_origin = 4;
    http::client c(loop, s);
    std::vector<outcome> out(10);
    for (int i = 0; i < 10; ++i) c.get(srv.url("/" + std::to_string(i)), into(out[i]));
    REQUIRE(loop.run_until([&] {
        for (auto& o : out)
            if (o.calls == 0) return false;
        return true;
    }));
    for (int i = 0; i < 10; ++i) {
        CHECK(out[i].calls == 1);
        CHECK_FALSE(out[i].ec);
        CHECK(out[i].res.body == "/" + std::to_string(i));
    }
    CHECK(srv.accepted <= 4);
    CHECK(srv.accepted >= 1);
    CHECK(c.connections_opened() == static_cast<std::uint64_t>(srv.accepted));
}

TEST_CASE("pool: a request past the queue cap fails at once with queue_full") {
    test::bounded_loop loop;
    counted_server srv(loop);
    srv.server.on_request([](const http::request_view&, http::response& res) { res.end("x"); });
    http::client_settings s;
    s.max_connections_per_origin = 1;
    s.max_queued_per_origin = 2;
    http::client c(loop, s);
    std::vector<outcome> out(4);
    for (auto& o : out) c.get(srv.url("/"), into(o));
    REQUIRE(loop.run_until([&] { return out[0].calls && out[1].calls && out[2].calls && out[3].calls; }));
    CHECK(out[3].ec == http::error::queue_full);
    for (int i = 0; i < 3; ++i) {
        CHECK_FALSE(out[i].ec);
        CHECK(out[i].res.body == "x");
    }
    CHECK(srv.accepted == 1);
}

TEST_CASE("pool: a connection the server closed while idle is dropped; the next request opens one") {
    test::bounded_loop loop;
    http::server_settings ss;
    ss.idle_timeout = 50ms; // the server closes kept connections quickly
    counted_server srv(loop, ss);
    srv.server.on_request([](const http::request_view&, http::response& res) { res.end("x"); });
    http::client c(loop);
    outcome first;
    c.get(srv.url("/"), into(first));
    REQUIRE(loop.run_until([&] { return first.calls == 1; }));
    REQUIRE_FALSE(first.ec);
    CHECK(c.idle_connections() == 1);
    // The server's close reaches the idle connection: the pool lets it go by itself.
    REQUIRE(loop.run_until([&] { return c.open_connections() == 0; }));
    CHECK(c.idle_connections() == 0);
    outcome second;
    c.get(srv.url("/"), into(second));
    REQUIRE(loop.run_until([&] { return second.calls == 1; }));
    CHECK_FALSE(second.ec);
    CHECK(second.res.body == "x");
    CHECK(srv.accepted == 2);
}

TEST_CASE("pool: an idempotent request that fails on a reused connection is retried once") {
    test::bounded_loop loop;
    flaky_server srv(loop);
    http::client c(loop);
    outcome a, b;
    c.get(srv.url(), into(a));
    REQUIRE(loop.run_until([&] { return a.calls == 1; }));
    REQUIRE_FALSE(a.ec);
    c.get(srv.url(), into(b)); // reuses the connection the server then drops
    REQUIRE(loop.run_until([&] { return b.calls == 1; }));
    CHECK_FALSE(b.ec);
    CHECK(b.res.body == "ok");
    CHECK(srv.accepted == 2);
}

TEST_CASE("pool: a POST that fails on a reused connection is not retried") {
    test::bounded_loop loop;
    flaky_server srv(loop);
    http::client c(loop);
    outcome a, b;
    http::client_request r;
    r.method = "POST";
    r.url = srv.url();
    r.body = "one";
    c.request(std::move(r), into(a));
    REQUIRE(loop.run_until([&] { return a.calls == 1; }));
    REQUIRE_FALSE(a.ec);
    http::client_request r2;
    r2.method = "POST";
    r2.url = srv.url();
    r2.body = "two";
    c.request(std::move(r2), into(b));
    REQUIRE(loop.run_until([&] { return b.calls == 1; }));
    CHECK(b.ec == http::error::unexpected_eof);
    CHECK(srv.accepted == 1);
}

TEST_CASE("pool: request timeout against a server that never answers; idle timeout in the pool") {
    test::bounded_loop loop;
    sluice::tcp_listener silent(loop);
    std::uint16_t port = test::listen_loopback(silent);
    std::vector<sluice::tcp_stream> held;
    silent.accept_each([&](std::error_code ec, sluice::tcp_stream st) {
        if (!ec) held.push_back(std::move(st));
    });
    http::client_settings s;
    s.request_timeout = 100ms;
    http::client c(loop, s);
    outcome o;
    c.get("http://127.0.0.1:" + std::to_string(port) + "/", into(o));
    REQUIRE(loop.run_until([&] { return o.calls == 1; }));
    CHECK(o.ec == sluice::error::timed_out);
    CHECK(c.open_connections() == 0); // a connection in an unknown state is not kept

    counted_server srv(loop);
    srv.server.on_request([](const http::request_view&, http::response& res) { res.end("x"); });
    http::client_settings s2;
    s2.idle_timeout = 50ms;
    http::client c2(loop, s2);
    outcome p;
    c2.get(srv.url("/"), into(p));
    REQUIRE(loop.run_until([&] { return p.calls == 1; }));
    CHECK_FALSE(p.ec);
    REQUIRE(loop.run_until([&] { return c2.open_connections() == 0; }));
    CHECK(srv.server.requests() == 1);
}

#ifdef __linux__
// A connect that never completes: Linux drops the SYNs for a listener whose accept queue
// is full (backlog 0 holds one connection; two are queued here and never accepted), so
// the client's connect hangs on loopback until its own timeout.
TEST_CASE("pool: connect timeout against a listener whose accept queue is full") {
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(lfd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd, 0) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    int fillers[2];
    for (int& f : fillers) {
        f = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(f >= 0);
        ::fcntl(f, F_SETFL, O_NONBLOCK);
        ::connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a); // completes or hangs: either fills
    }
    ::usleep(100 * 1000); // let the handshakes that can complete do so (no assertion on time)

    test::bounded_loop loop;
    http::client_settings s;
    s.connect_timeout = 200ms;
    s.request_timeout = 0ms; // only the connect timeout can end it
    http::client c(loop, s);
    outcome o;
    c.get("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/", into(o));
    REQUIRE(loop.run_until([&] { return o.calls == 1; }));
    CHECK(o.ec == sluice::error::timed_out);
    CHECK(c.open_connections() == 0);
    for (int f : fillers) ::close(f);
    ::close(lfd);
}
#endif

TEST_CASE("pool: the client's destruction completes each pending request once with operation_aborted") {
    test::bounded_loop loop;
    sluice::tcp_listener silent(loop);
    std::uint16_t port = test::listen_loopback(silent);
    std::vector<sluice::tcp_stream> held;
    silent.accept_each([&](std::error_code ec, sluice::tcp_stream st) {
        if (!ec) held.push_back(std::move(st));
    });
    http::client_settings s;
    s.max_connections_per_origin = 2; // two sent, the rest queued
    std::vector<outcome> out(5);
    {
        http::client c(loop, s);
        for (auto& o : out) c.get("http://127.0.0.1:" + std::to_string(port) + "/", into(o));
        REQUIRE(loop.run_until([&] { return held.size() == 2; }));
        loop.run_for(20ms);
        for (auto& o : out) CHECK(o.calls == 0);
    }
    REQUIRE(loop.run_until([&] {
        for (auto& o : out)
            if (o.calls == 0) return false;
        return true;
    }));
    loop.run_for(50ms);
    for (auto& o : out) {
        CHECK(o.calls == 1);
        CHECK(o.ec == sluice::error::operation_aborted);
    }
    // A request after close() fails the same way, from the loop.
    http::client c(loop);
    c.close();
    outcome late;
    c.get("http://127.0.0.1:" + std::to_string(port) + "/", into(late));
    CHECK(late.calls == 0);
    REQUIRE(loop.run_until([&] { return late.calls == 1; }));
    CHECK(late.ec == sluice::error::operation_aborted);
}

TEST_CASE("pool: cancel() completes that request only") {
    test::bounded_loop loop;
    counted_server srv(loop);
    srv.server.on_request([](const http::request_view&, http::response& res) { res.end("x"); });
    http::client c(loop);
    outcome a, b;
    auto id = c.get(srv.url("/"), into(a));
    c.get(srv.url("/"), into(b));
    CHECK(c.cancel(id));
    CHECK_FALSE(c.cancel(id));
    REQUIRE(loop.run_until([&] { return a.calls == 1 && b.calls == 1; }));
    CHECK(a.ec == sluice::error::operation_aborted);
    CHECK_FALSE(b.ec);
}

TEST_CASE("pool: a refused connect fails the requests waiting for it; a bad URL fails from the loop") {
    test::bounded_loop loop;
    std::uint16_t dead_port;
    {
        sluice::tcp_listener tmp(loop);
        dead_port = test::listen_loopback(tmp);
    }
    http::client c(loop);
    std::vector<outcome> out(3);
    for (auto& o : out) c.get("http://127.0.0.1:" + std::to_string(dead_port) + "/", into(o));
    REQUIRE(loop.run_until([&] { return out[0].calls && out[1].calls && out[2].calls; }));
    for (auto& o : out) {
        CHECK(o.calls == 1);
        CHECK(o.ec == std::errc::connection_refused);
    }
    CHECK(c.open_connections() == 0);
    outcome bad, no_tls;
    c.get("ftp://127.0.0.1/", into(bad));
    c.get("https://127.0.0.1/", into(no_tls)); // no client_settings::tls
    CHECK(bad.calls == 0);
    CHECK(no_tls.calls == 0);
    REQUIRE(loop.run_until([&] { return bad.calls == 1 && no_tls.calls == 1; }));
    CHECK(bad.ec == http::error::bad_url);
    CHECK(no_tls.ec == std::errc::protocol_not_supported);
}

TEST_CASE("pool: a connect that fails after its request was cancelled disturbs nothing") {
    test::bounded_loop loop;
    std::uint16_t dead_port;
    {
        sluice::tcp_listener tmp(loop);
        dead_port = test::listen_loopback(tmp);
    }
    http::client c(loop);
    outcome o;
    auto id = c.get("http://127.0.0.1:" + std::to_string(dead_port) + "/", into(o));
    CHECK(c.cancel(id)); // the connect goes on, and is refused with nobody waiting
    REQUIRE(loop.run_until([&] { return o.calls == 1 && c.open_connections() == 0; }));
    CHECK(o.ec == sluice::error::operation_aborted);
    outcome again;
    c.get("http://127.0.0.1:" + std::to_string(dead_port) + "/", into(again));
    REQUIRE(loop.run_until([&] { return again.calls == 1; }));
    CHECK(again.ec == std::errc::connection_refused);
}
