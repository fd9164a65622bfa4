// The HTTP server on the loop, driven by raw sluice TCP clients on loopback.
#include "common.hpp"

#include <functional>
#include <memory>

using namespace std::chrono_literals;
namespace http = sluice::http;
using test::parse_responses;
using test::raw_client;

namespace {

void hello(const http::request_view& req, http::response& res) {
    if (req.path() == "/plaintext") {
        res.header("Content-Type", "text/plain").end("Hello, World!");
        return;
    }
    if (req.path() == "/echo") {
        res.header("Content-Type", "application/octet-stream").end(req.body());
        return;
    }
    res.status(404).end("nope");
}

} // namespace

TEST_CASE("http server: keep-alive, Date and Server headers") {
    test::http_fixture f;
    f.server.on_request(hello);
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/plaintext"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    c.send(test::get_request("/missing"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].status == 200);
    CHECK(r[0].body == "Hello, World!");
    CHECK(r[0].get("Content-Type") == "text/plain");
    CHECK(r[0].get("Content-Length") == "13");
    CHECK(r[0].get("Server") == "sluice");
    CHECK(r[0].get("Date").size() == 29);
    CHECK(r[0].get("Connection").empty());
    CHECK(r[1].status == 404);
    CHECK_FALSE(c.closed);
    CHECK(f.server.connections() == 1);
    CHECK(f.server.requests() == 2);

    // HTTP/1.0 keep-alive is announced; without it the connection closes.
    c.send("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 3; }));
    CHECK(parse_responses(c.in)[2].get("Connection") == "keep-alive");
    c.send("GET /plaintext HTTP/1.0\r\n\r\n");
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    auto all = parse_responses(c.in);
    REQUIRE(all.size() == 4);
    CHECK(all[3].get("Connection") == "close");
    c.s.close(); // the server lingers until the peer closes
    CHECK(f.loop.run_until([&] { return f.server.connections() == 0; }));
}

TEST_CASE("http server: pipelined requests are answered in order") {
    test::http_fixture f;
    std::vector<http::response> later;
    sluice::timer t(f.loop);
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        if (req.path() == "/slow") {
            // Answered later: the responses after it must wait.
            later.push_back(std::move(res));
            t.start(50ms, [&](std::error_code) {
                for (auto& r : later) r.header("X-Order", "slow").end("slow");
            });
            return;
        }
        if (req.path() == "/plaintext") return res.end("Hello, World!");
        if (req.path() == "/echo") return res.end(req.body());
        res.header("X-Order", std::string(req.path())).end(req.path());
    });
    f.listen();
    raw_client c(f.loop, f.port);
    std::string batch;
    for (const char* p : {"/a", "/slow", "/b", "/c"}) batch += test::get_request(p);
    c.send(batch);
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 4; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].body == "/a");
    CHECK(r[1].body == "slow");
    CHECK(r[2].body == "/b");
    CHECK(r[3].body == "/c");

    // Byte by byte, many at once, with a POST body in the middle.
    c.in.clear();
    std::string mixed = test::get_request("/plaintext") +
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" +
                        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrail: 1\r\n\r\n" +
                        test::get_request("/plaintext");
    for (char ch : mixed) {
        c.send(std::string_view(&ch, 1));
        f.loop.run_for(1ms);
    }
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 4; }));
    r = parse_responses(c.in);
    CHECK(r[0].body == "Hello, World!");
    CHECK(r[1].body == "hello");
    CHECK(r[2].body == "abcdefg");
    CHECK(r[3].body == "Hello, World!");
}

TEST_CASE("http server: request split at every byte keeps head views valid") {
    test::http_fixture f;
    std::vector<std::string> seen;
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        seen.push_back(std::string(req.method()) + " " + std::string(req.target()) + " " +
                       std::string(req.get("X-A")) + " " + std::string(req.body()));
        res.end("ok");
    });
    f.listen();
    const std::string req =
        "PUT /p?q=1 HTTP/1.1\r\nHost: t\r\nX-A: value-a\r\nContent-Length: 6\r\n\r\nbody!!";
    for (std::size_t split = 1; split < req.size(); split += 7) {
        raw_client c(f.loop, f.port);
        REQUIRE(f.loop.run_until([&] { return c.connected; }));
        c.send(req.substr(0, split));
        f.loop.run_for(2ms);
        c.send(req.substr(split));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
        REQUIRE(seen.size() >= 1);
        CHECK(seen.back() == "PUT /p?q=1 value-a body!!");
    }
}

TEST_CASE("http server: chunked streaming over time") {
    test::http_fixture f;
    sluice::timer t(f.loop);
    http::response held;
    int n = 0;
    std::function<void()> tick = [&] {
        if (++n <= 3) {
            CHECK(held.write(
                std::string(static_cast<std::size_t>(n), static_cast<char>('a' + n - 1))));
            t.start(10ms, [&](std::error_code) { tick(); });
        } else {
            held.end();
        }
    };
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        if (req.path() == "/after") return res.end("after"); // waits behind the stream
        res.header("Content-Type", "text/plain");
        held = std::move(res);
        tick();
    });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/stream") + test::get_request("/after"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].chunked);
    CHECK(r[0].get("Transfer-Encoding") == "chunked");
    CHECK(r[0].body == "abbccc");
    CHECK(r[1].body == "after");
    CHECK(r[1].get("Content-Length") == "5");
}

TEST_CASE("http server: Server-Sent Events") {
    test::http_fixture f;
    std::vector<http::response> subscribers;
    bool client_gone = false;
    f.server.on_request([&](const http::request_view&, http::response& res) {
        CHECK(res.send_event("hello"));
        res.on_close([&] { client_gone = true; });
        subscribers.push_back(std::move(res));
    });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/events"));
    REQUIRE(f.loop.run_until([&] { return c.in.find("data: hello\n\n") != std::string::npos; }));
    CHECK(c.in.find("Content-Type: text/event-stream\r\n") != std::string::npos);
    CHECK(c.in.find("Cache-Control: no-cache\r\n") != std::string::npos);
    CHECK(c.in.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    REQUIRE(subscribers.size() == 1);
    CHECK(subscribers[0].send_event("line1\nline2", "tick", "7"));
    CHECK(subscribers[0].send_comment("ping"));
    REQUIRE(f.loop.run_until([&] { return c.in.find(": ping\n\n") != std::string::npos; }));
    CHECK(c.in.find("event: tick\nid: 7\ndata: line1\ndata: line2\n\n") != std::string::npos);
    CHECK_FALSE(subscribers[0].send_event("x", "bad\nevent"));
    c.s.close();
    REQUIRE(f.loop.run_until([&] { return client_gone; }));
    CHECK_FALSE(subscribers[0].is_open());
    CHECK_FALSE(subscribers[0].send_event("late"));
}

TEST_CASE("http server: Expect 100-continue") {
    test::http_fixture f;
    f.server.on_request(hello);
    f.listen();
    raw_client c(f.loop, f.port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    REQUIRE(f.loop.run_until([&] { return c.in.find("HTTP/1.1 100 Continue\r\n\r\n") == 0; }));
    CHECK(parse_responses(c.in).empty());
    c.send("data");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].body == "data");
}

TEST_CASE("http server: HEAD has no body") {
    test::http_fixture f;
    f.server.on_request(hello);
    f.listen();
    raw_client c(f.loop, f.port);
    c.send("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" + test::get_request("/plaintext"));
    std::vector<http::verb> verbs{http::verb::head, http::verb::get};
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in, verbs).size() == 2; }));
    auto r = parse_responses(c.in, verbs);
    CHECK(r[0].get("Content-Length") == "13");
    CHECK(r[0].body.empty());
    CHECK(r[1].body == "Hello, World!");
    CHECK(c.in.find("Hello, World!") == c.in.rfind("Hello, World!")); // only once
}

TEST_CASE("http server: limits answer the matching status, Connection: close, then close") {
    struct limit_case {
        const char* name;
        std::string request;
        unsigned status;
    };
    http::server_settings s;
    s.limits.max_body = 1000;
    s.limits.max_request_line = 200;
    s.limits.max_head = 1024;
    s.limits.max_headers = 8;
    std::string many;
    for (int i = 0; i < 10; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    const limit_case cases[] = {
        {"bad request", "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400},
        {"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
        {"smuggling",
         "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         400},
        {"body too large", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413},
        {"chunked body too large",
         "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
             std::string(2048, 'x') + "\r\n",
         413},
        {"uri too long", "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
        {"too many headers", "GET / HTTP/1.1\r\nHost: t\r\n" + many + "\r\n", 431},
        {"head too large",
         "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n", 431},
        {"unknown coding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n",
         501},
        {"version", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
    };
    test::http_fixture f(s);
    int handled = 0;
    f.server.on_request([&](const http::request_view&, http::response& res) {
        ++handled;
        res.end("ok");
    });
    f.listen();
    for (const auto& lc : cases) {
        CAPTURE(lc.name);
        raw_client c(f.loop, f.port);
        // A good request first: its answer must come before the error's.
        c.send(test::get_request("/first") + lc.request);
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 2);
        CHECK(r[0].status == 200);
        CHECK(r[1].status == lc.status);
        CHECK(r[1].get("Connection") == "close");
    }
    CHECK(handled == static_cast<int>(std::size(cases)));
    CHECK(f.loop.run_until([&] { return f.server.connections() == 0; }));
}

TEST_CASE("http server: header timeout cuts off a slowloris client") {
    http::server_settings s;
    s.header_timeout = 200ms;
    s.idle_timeout = 10s;
    test::http_fixture f(s);
    f.server.on_request(hello);
    f.listen();
    raw_client c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return c.connected; }));
    std::string trickle = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    auto start = std::chrono::steady_clock::now();
    c.send(trickle);
    // One byte every 20 ms: activity never stops, the head never completes.
    while (!c.closed && std::chrono::steady_clock::now() - start < 3s) {
        c.send("a");
        f.loop.run_for(20ms);
    }
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(c.closed);
    CHECK(took >= 190ms);
    CHECK(took < 1500ms);
    auto r = parse_responses(c.in);
    REQUIRE(r.size() == 1);
    CHECK(r[0].status == 408);
    CHECK(r[0].get("Connection") == "close");
}

TEST_CASE("http server: idle timeout closes a quiet keep-alive connection") {
    http::server_settings s;
    s.idle_timeout = 150ms;
    test::http_fixture f(s);
    f.server.on_request(hello);
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/plaintext"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    auto start = std::chrono::steady_clock::now();
    REQUIRE(f.loop.run_until([&] { return c.closed; }, 3000ms));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 100ms);
    CHECK(took < 1000ms);
    CHECK(parse_responses(c.in).size() == 1); // nothing else was sent
    CHECK(f.loop.run_until([&] { return f.server.connections() == 0; }));

    // A connection that never sends anything is closed by the idle timeout too.
    raw_client quiet(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return quiet.closed; }, 3000ms));
    CHECK(quiet.in.empty());
}

TEST_CASE("http server: max connections") {
    http::server_settings s;
    s.max_connections = 2;
    test::http_fixture f(s);
    f.server.on_request(hello);
    f.listen();
    raw_client a(f.loop, f.port), b(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return f.server.connections() == 2; }));
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/plaintext"));
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    CHECK(c.in.empty());
    CHECK(f.server.rejected_connections() == 1);
    a.send(test::get_request("/plaintext"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(a.in).size() == 1; }));
    a.s.close();
    REQUIRE(f.loop.run_until([&] { return f.server.connections() == 1; }));
    raw_client d(f.loop, f.port);
    d.send(test::get_request("/plaintext"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(d.in).size() == 1; }));
}

TEST_CASE("http server: backpressure stops reading while the write queue is high") {
    http::server_settings s;
    s.write.low_watermark = 16 * 1024;
    s.write.high_watermark = 64 * 1024;
    test::http_fixture f(s);
    const std::string big(512 * 1024, 'z');
    f.server.on_request([&](const http::request_view&, http::response& res) { res.end(big); });
    f.listen();
    raw_client c(f.loop, f.port, false); // does not read yet
    REQUIRE(f.loop.run_until([&] { return c.connected; }));
    const int total = 40;
    std::string batch;
    for (int i = 0; i < total; ++i) batch += test::get_request("/big");
    c.send(batch);
    f.loop.run_for(300ms);
    // Each answer is far above the high watermark: the server stopped reading after
    // the first batch it parsed; only the requests of that read were answered.
    CHECK(f.server.requests() < static_cast<std::uint64_t>(total));
    c.start_reading();
    REQUIRE(f.loop.run_until([&] { return c.in.size() >= total * big.size(); }));
    auto r = parse_responses(c.in);
    CHECK(r.size() == static_cast<std::size_t>(total));
    CHECK(f.server.requests() == static_cast<std::uint64_t>(total));
}

TEST_CASE("http server: a streaming response respects write_queue_high/on_drain") {
    http::server_settings s;
    s.write.low_watermark = 8 * 1024;
    s.write.high_watermark = 32 * 1024;
    test::http_fixture f(s);
    http::response held;
    std::size_t sent = 0, max_gap = 0;
    const std::size_t want = 48 << 20; // far beyond the socket buffers
    const std::string piece(16 * 1024, 'p');
    std::function<void()> pump = [&] {
        while (held.is_open() && sent < want && !held.write_queue_high()) {
            held.write(piece);
            sent += piece.size();
        }
        if (sent >= want) return held.end();
        held.on_drain([&] { pump(); });
    };
    f.server.on_request([&](const http::request_view&, http::response& res) {
        held = std::move(res);
        pump();
    });
    f.listen();
    raw_client c(f.loop, f.port, false);
    c.send(test::get_request("/stream"));
    f.loop.run_for(200ms);
    max_gap = sent;
    CHECK(sent < want); // stopped producing while the client is not reading
    c.start_reading();
    REQUIRE(f.loop.run_until([&] { return c.in.size() >= want; }));
    REQUIRE(f.loop.run_until([&] { return c.in.find("\r\n0\r\n\r\n") != std::string::npos; }));
    CHECK(parse_responses(c.in)[0].body.size() == want);
    CHECK(max_gap > 0);
}

TEST_CASE("http server: an unanswered response becomes 500; async answers work") {
    test::http_fixture f;
    std::vector<http::response> parked;
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        if (req.path() == "/forget") return; // neither answered nor kept
        if (req.path() == "/park") parked.push_back(std::move(res));
        if (req.path() == "/drop") {
            http::response r = std::move(res); // dropped at once
        }
        if (req.path() == "/bad") res.header("Bad Name", "x").end("body");
    });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/forget") + test::get_request("/park") + test::get_request("/drop") +
           test::get_request("/bad"));
    REQUIRE(f.loop.run_until([&] { return parked.size() == 1; }));
    f.loop.run_for(20ms);
    CHECK(parse_responses(c.in).size() == 1); // /park holds back the later ones
    parked[0].status(201).end("made");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 4; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].status == 500);
    CHECK(r[1].status == 201);
    CHECK(r[1].body == "made");
    CHECK(r[2].status == 500);
    CHECK(r[3].status == 500);
    CHECK(r[3].body.empty());
}

TEST_CASE("http server: graceful stop finishes in-flight requests") {
    test::http_fixture f;
    std::vector<http::response> parked;
    f.server.on_request(
        [&](const http::request_view&, http::response& res) { parked.push_back(std::move(res)); });
    f.listen();
    raw_client busy(f.loop, f.port), idle(f.loop, f.port);
    busy.send(test::get_request("/x"));
    REQUIRE(f.loop.run_until([&] { return parked.size() == 1 && idle.connected; }));
    REQUIRE(f.loop.run_until([&] { return f.server.connections() == 2; }));
    f.server.stop(5s);
    REQUIRE(f.loop.run_until([&] { return idle.closed; }));
    CHECK_FALSE(busy.closed);
    parked[0].end("bye");
    REQUIRE(f.loop.run_until([&] { return busy.closed; }));
    auto r = parse_responses(busy.in);
    REQUIRE(r.size() == 1);
    CHECK(r[0].body == "bye");
    CHECK(r[0].get("Connection") == "close");
    busy.s.close(); // the server lingers until the peer closes
    CHECK(f.loop.run_until([&] { return f.server.connections() == 0; }));
}
