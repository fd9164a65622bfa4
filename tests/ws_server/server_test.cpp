// WebSocket server on the loop, seen from the wire: a raw client sends exact bytes and
// checks exactly what comes back (RFC 6455 server MUSTs), on every backend.
#include "common.hpp"

using namespace test;
using sluice::ws::opcode;

namespace {

// A raw client that has completed the handshake.
struct raw_ws : raw_client {
    raw_ws(sluice::loop& l, std::uint16_t port, std::string_view extra_after_head = {})
        : raw_client(l, port) {
        send(upgrade_request() + std::string(extra_after_head));
    }
    std::vector<wire_frame> frames() const { return frames_after_head(in); }
};

void echo_everything(ws_fixture& f) {
    f.wss.on_message([](ws::connection& c, const ws::message& m) {
        CHECK_FALSE(c.send(m.op, m.data.data(), m.data.size()));
    });
}

} // namespace

TEST_CASE("ws server: 101 with the RFC's accept value, unmasked frames, echo") {
    ws_fixture f;
    echo_everything(f);
    raw_ws c(f.loop, f.port);
    c.send(frame(opcode::text, "hello"));
    c.send(frame(opcode::binary, std::string("\0\1\2\xff", 4)));
    REQUIRE(f.loop.run_until([&] { return c.frames().size() == 2; }));
    CHECK(c.in.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
    CHECK(c.in.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    auto fr = c.frames();
    CHECK(fr[0].op == opcode::text);
    CHECK(fr[0].payload == "hello");
    CHECK_FALSE(fr[0].masked); // a server MUST NOT mask (RFC 6455 §5.1)
    CHECK(fr[1].op == opcode::binary);
    CHECK(fr[1].payload == std::string("\0\1\2\xff", 4));
    CHECK(f.wss.size() == 1);
}

TEST_CASE("ws server: frames sent right behind the handshake are not lost") {
    ws_fixture f;
    echo_everything(f);
    raw_ws c(f.loop, f.port, frame(opcode::text, "early") + frame(opcode::text, "bird"));
    REQUIRE(f.loop.run_until([&] { return c.frames().size() == 2; }));
    CHECK(c.frames()[0].payload == "early");
    CHECK(c.frames()[1].payload == "bird");
}

TEST_CASE("ws server: every payload length form, split at every read boundary") {
    ws_fixture f;
    echo_everything(f);
    raw_ws c(f.loop, f.port);
    std::vector<std::size_t> sizes = {0, 1, 125, 126, 127, 65535, 65536, 70000, 1 << 20};
    for (std::size_t n : sizes)
        c.send(frame(opcode::binary, pattern(n, static_cast<std::uint32_t>(n))));
    REQUIRE(f.loop.run_until([&] { return c.frames().size() == sizes.size(); }));
    auto fr = c.frames();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        CAPTURE(sizes[i]);
        CHECK(fr[i].payload == pattern(sizes[i], static_cast<std::uint32_t>(sizes[i])));
    }
}

TEST_CASE("ws server: fragmented message with pings in between; pongs in order") {
    ws_fixture f;
    echo_everything(f);
    std::vector<std::string> pings;
    f.wss.on_ping([&](ws::connection&, std::string_view p) { pings.emplace_back(p); });
    raw_ws c(f.loop, f.port);
    c.send(frame(opcode::text, "frag", false));
    c.send(frame(opcode::ping, "p1"));
    c.send(frame(opcode::continuation, "men", false));
    c.send(frame(opcode::ping, "p2"));
    c.send(frame(opcode::continuation, "ted", true));
    REQUIRE(f.loop.run_until([&] { return c.frames().size() == 3; }));
    auto fr = c.frames();
    CHECK(fr[0].op == opcode::pong);
    CHECK(fr[0].payload == "p1");
    CHECK(fr[1].op == opcode::pong);
    CHECK(fr[1].payload == "p2");
    CHECK(fr[2].op == opcode::text);
    CHECK(fr[2].payload == "fragmented");
    CHECK(pings == std::vector<std::string>{"p1", "p2"});
}

TEST_CASE("ws server: close handshake — code echoed, reason reported, server closes TCP first") {
    ws_fixture f;
    ws::close_status seen;
    std::string seen_reason;
    int closes = 0;
    f.wss.on_close([&](ws::connection&, const ws::close_status& s) {
        ++closes;
        seen = s;
        seen_reason = std::string(s.reason);
    });
    raw_ws c(f.loop, f.port);
    c.send(frame(opcode::close, close_payload(4001, "bye")));
    // The client never closes its side: EOF can only come from the server.
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    auto fr = c.frames();
    REQUIRE(fr.size() == 1);
    CHECK(fr[0].op == opcode::close);
    CHECK(fr[0].close_code() == 4001);
    CHECK(closes == 1);
    CHECK(seen.code == 4001);
    CHECK(seen_reason == "bye");
    CHECK_FALSE(seen.ec);
    CHECK(f.wss.size() == 0);
}

TEST_CASE("ws server: protocol violations fail the connection with the right code") {
    struct row {
        const char* what;
        std::string bytes;
        std::uint16_t code;
    };
    std::vector<row> rows = {
        {"unmasked client frame", frame(opcode::text, "x", true, false), 1002},
        {"RSV1 without an extension", frame(opcode::text, "x", true, true, 0x40), 1002},
        {"unknown opcode", frame(static_cast<opcode>(3), "x"), 1002},
        {"fragmented ping", frame(opcode::ping, "x", false), 1002},
        {"continuation without a start", frame(opcode::continuation, "x"), 1002},
        {"invalid UTF-8 text", frame(opcode::text, "\xc3\x28"), 1007},
        {"close code 1005 on the wire", frame(opcode::close, close_payload(1005)), 1002},
        {"one-byte close payload", frame(opcode::close, "x"), 1002},
        {"close reason not UTF-8", frame(opcode::close, close_payload(1000, "\xff")), 1007},
    };
    for (auto& r : rows) {
        CAPTURE(r.what);
        ws_fixture f;
        ws::close_status seen;
        f.wss.on_close([&](ws::connection&, const ws::close_status& s) { seen = s; });
        raw_ws c(f.loop, f.port);
        c.send(r.bytes);
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto fr = c.frames();
        REQUIRE(fr.size() == 1);
        CHECK(fr[0].op == opcode::close);
        CHECK(fr[0].close_code() == r.code);
        CHECK(seen.code == r.code);
        CHECK(seen.ec);
    }
}

TEST_CASE("ws server: a message over the limit is refused with 1009 before it arrives") {
    ws::settings s;
    s.codec.max_message_size = 1000;
    ws_fixture f(s);
    echo_everything(f);
    raw_ws c(f.loop, f.port);
    c.send(frame(opcode::binary, std::string(1000, 'a')));
    // Only the header of the next one: the limit is checked before any payload.
    std::string big = frame(opcode::binary, std::string(5000, 'b'));
    c.send(big.substr(0, 8));
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    auto fr = c.frames();
    REQUIRE(fr.size() == 2);
    CHECK(fr[0].payload.size() == 1000);
    CHECK(fr[1].close_code() == 1009);
}

TEST_CASE("ws server: refusing a message the peer is still sending ends in FIN, not a reset") {
    // Regression: the server closed the socket right after its 1009 close frame while the
    // rest of the message was still arriving; the kernel then sent RST and clients (node's
    // ws) lost the close frame. Now the server half-closes and drains until the peer's FIN.
    ws::settings s;
    s.codec.max_message_size = 1000;
    ws_fixture f(s);
    raw_ws c(f.loop, f.port);
    c.send(frame(opcode::binary, std::string(4 << 20, 'b')));
    REQUIRE(f.loop.run_until([&] { return !c.frames().empty(); }));
    CHECK(c.frames()[0].close_code() == 1009);
    // The server's FIN, after the close frame; a reset would surface as ECONNRESET.
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    CHECK(c.close_reason == sluice::error::eof);
    CHECK(c.frames().size() == 1);
}

TEST_CASE("ws server: a peer that never sends FIN is closed after close_timeout") {
    ws::settings s;
    s.close_timeout = std::chrono::milliseconds(150);
    ws_fixture f(s);
    raw_ws c(f.loop, f.port);
    c.send(frame(opcode::close, close_payload(1000)));
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    CHECK(c.frames().back().close_code() == 1000);
}

TEST_CASE("ws server: handshake errors are answered with the reason") {
    struct row {
        const char* what;
        std::string request;
        unsigned status;
        const char* header;
    };
    std::vector<row> rows = {
        {"version 8", upgrade_request().replace(upgrade_request().find("13\r\n"), 2, "8"), 426,
         "Sec-WebSocket-Version"},
        {"no Upgrade", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 400, nullptr},
        {"short key",
         "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
         "Sec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400, nullptr},
        {"POST",
         "POST / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Content-Length: 0\r\n\r\n",
         405, "Allow"},
    };
    for (auto& r : rows) {
        CAPTURE(r.what);
        ws_fixture f;
        raw_client c(f.loop, f.port);
        c.send(r.request);
        REQUIRE(f.loop.run_until([&] { return !parse_responses(c.in).empty(); }));
        auto res = parse_responses(c.in)[0];
        CHECK(res.status == r.status);
        if (r.header) CHECK_FALSE(res.get(r.header).empty());
        CHECK(f.wss.size() == 0);
    }
}

TEST_CASE("ws server: origin hook and subprotocol selection") {
    ws_fixture f;
    f.wss.check_origin([](std::string_view o) { return o == "http://good.example"; });
    f.wss.subprotocols() = {"v2.chat", "v1.chat"};
    raw_client bad(f.loop, f.port);
    bad.send(upgrade_request("Origin: http://evil.example\r\n"));
    raw_client good(f.loop, f.port);
    good.send(upgrade_request("Origin: http://good.example\r\nSec-WebSocket-Protocol: v1.chat, "
                              "v2.chat\r\n"));
    REQUIRE(f.loop.run_until([&] {
        return !parse_responses(bad.in).empty() && good.in.find("\r\n\r\n") != std::string::npos;
    }));
    CHECK(parse_responses(bad.in)[0].status == 403);
    CHECK(good.in.rfind("HTTP/1.1 101", 0) == 0);
    CHECK(good.in.find("Sec-WebSocket-Protocol: v2.chat\r\n") != std::string::npos);
}

TEST_CASE("ws server: the server pings a silent peer, then closes it with 1001") {
    ws::settings s;
    s.ping_interval = std::chrono::milliseconds(50);
    s.idle_timeout = std::chrono::milliseconds(300);
    s.close_timeout = std::chrono::milliseconds(200);
    ws_fixture f(s);
    ws::close_status seen;
    bool closed = false;
    f.wss.on_close([&](ws::connection&, const ws::close_status& st) {
        seen = st;
        closed = true;
    });
    raw_ws c(f.loop, f.port); // never answers anything
    REQUIRE(f.loop.run_until([&] { return c.closed && closed; }));
    auto fr = c.frames();
    REQUIRE(fr.size() >= 2);
    CHECK(fr[0].op == opcode::ping);
    CHECK(fr.back().op == opcode::close);
    CHECK(fr.back().close_code() == 1001);
    // The peer never answered the close either: dropped after close_timeout.
    CHECK(seen.code == 1006);
    CHECK(seen.ec == sluice::error::timed_out);
}

TEST_CASE("ws server: a peer that answers pings stays connected") {
    ws::settings s;
    s.ping_interval = std::chrono::milliseconds(30);
    s.idle_timeout = std::chrono::milliseconds(120);
    ws_fixture f(s);
    recording_client rc(f.loop, f.url()); // sluice's client answers pings automatically
    REQUIRE(f.loop.run_until([&] { return rc.opened; }));
    f.loop.run_for(std::chrono::milliseconds(500));
    CHECK_FALSE(rc.closed);
    CHECK(f.wss.size() == 1);
}

TEST_CASE("ws server: a peer that drops the TCP connection is reported as 1006") {
    ws_fixture f;
    ws::close_status seen;
    bool closed = false;
    f.wss.on_close([&](ws::connection&, const ws::close_status& st) {
        seen = st;
        closed = true;
    });
    raw_ws c(f.loop, f.port); // outlives the loop's run: its read handler points at it
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 1; }));
    c.s.close();
    REQUIRE(f.loop.run_until([&] { return closed; }));
    CHECK(seen.code == 1006);
    CHECK(seen.ec);
    CHECK(f.wss.size() == 0);
}

TEST_CASE("ws server: pause() holds messages back in order; resume() delivers them") {
    ws_fixture f;
    std::vector<std::string> got;
    ws::connection held;
    f.wss.on_message([&](ws::connection& c, const ws::message& m) {
        got.emplace_back(m.data);
        if (got.size() == 1) {
            c.pause();
            held = c;
        }
    });
    raw_ws c(f.loop, f.port);
    std::string burst;
    for (int i = 0; i < 50; ++i) burst += frame(opcode::text, std::to_string(i));
    c.send(burst);
    REQUIRE(f.loop.run_until([&] { return !got.empty(); }));
    f.loop.run_for(std::chrono::milliseconds(100));
    CHECK(got.size() == 1);
    held.resume();
    REQUIRE(f.loop.run_until([&] { return got.size() == 50; }));
    for (int i = 0; i < 50; ++i) CHECK(got[static_cast<std::size_t>(i)] == std::to_string(i));
}

TEST_CASE("ws server: broadcast shares one frame between all connections") {
    ws_fixture f;
    std::vector<std::unique_ptr<raw_ws>> cs;
    for (int i = 0; i < 5; ++i) cs.push_back(std::make_unique<raw_ws>(f.loop, f.port));
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 5; }));
    ws::prepared_message pm;
    REQUIRE_FALSE(ws::prepare(opcode::text, "to all", 6, pm));
    CHECK(f.wss.broadcast(pm) == 5);
    REQUIRE(f.loop.run_until([&] {
        for (auto& c : cs)
            if (c->frames().size() != 1) return false;
        return true;
    }));
    for (auto& c : cs) CHECK(c->frames()[0].payload == "to all");
    CHECK(ws::prepare(opcode::text, "\xff", 1, pm) == ws::error::invalid_utf8);
}

TEST_CASE("ws server: send after close is refused; close_all ends every connection") {
    ws_fixture f;
    raw_ws a(f.loop, f.port), b(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 2; }));
    ws::connection first;
    f.wss.for_each([&](ws::connection& c) {
        if (!first) first = c;
    });
    f.wss.close_all(1001, "bye");
    CHECK(first.send_text("late") == ws::error::closed);
    a.send(frame(opcode::close, close_payload(1001)));
    b.send(frame(opcode::close, close_payload(1001)));
    REQUIRE(f.loop.run_until([&] { return a.closed && b.closed; }));
    CHECK(a.frames().back().close_code() == 1001);
    CHECK(f.wss.size() == 0);
    CHECK_FALSE(first.is_open());
    CHECK(first.close_code() == 1001);
}

TEST_CASE("ws server: a connection's idle state is small") {
    // The aim is <= 256 bytes of WebSocket state per idle connection (plus the TCP stream's).
    CHECK(sizeof(ws::detail::conn_impl) <= 256);
    MESSAGE("sizeof(ws::detail::conn_impl) = " << sizeof(ws::detail::conn_impl)
                                               << ", sizeof(ws::codec) = " << sizeof(ws::codec));
}
