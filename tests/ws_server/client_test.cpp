// WebSocket client on the loop: against sluice's own server, and against raw servers that
// misbehave (RFC 6455 client MUSTs: masking, handshake verification).
#include "common.hpp"

#include <set>

using namespace test;
using sluice::ws::opcode;

TEST_CASE("ws client: round trip of text and binary of every length form") {
    ws_fixture f;
    f.wss.on_message([](ws::connection& c, const ws::message& m) {
        CHECK_FALSE(c.send(m.op, m.data.data(), m.data.size()));
    });
    recording_client rc(f.loop, f.url());
    REQUIRE(f.loop.run_until([&] { return rc.opened; }));
    std::vector<std::size_t> sizes = {0, 125, 126, 65535, 65536, 3 << 20};
    CHECK_FALSE(rc.c.send_text("héllo"));
    for (std::size_t n : sizes) CHECK_FALSE(rc.c.send_binary(pattern(n, 7)));
    REQUIRE(f.loop.run_until([&] { return rc.got.size() == sizes.size() + 1; }));
    CHECK(rc.got[0].first == opcode::text);
    CHECK(rc.got[0].second == "héllo");
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        CHECK(rc.got[i + 1].first == opcode::binary);
        CHECK(rc.got[i + 1].second == pattern(sizes[i], 7));
    }
    CHECK(rc.c.send_text("\xff") == ws::error::invalid_utf8);
}

TEST_CASE("ws client: every frame is masked, with a fresh key each time") {
    // A raw server: answers the handshake, then records what the client sends.
    bounded_loop loop;
    raw_ws_server srv(loop);
    recording_client rc(loop, srv.url());
    REQUIRE(loop.run_until([&] { return rc.opened; }));
    for (int i = 0; i < 20; ++i) CHECK_FALSE(rc.c.send_text("same"));
    CHECK_FALSE(rc.c.ping("p"));
    // frames_after_head() skips the request head here.
    REQUIRE(loop.run_until([&] { return frames_after_head(srv.in).size() == 21; }));
    std::set<std::string> keys;
    std::string raw = srv.in.substr(srv.in.find("\r\n\r\n") + 4);
    std::size_t at = 0;
    for (int i = 0; i < 21; ++i) {
        ws::frame_header h;
        std::size_t hl = 0;
        ws::error e{};
        REQUIRE(ws::parse_header(reinterpret_cast<const std::uint8_t*>(raw.data() + at),
                                 raw.size() - at, h, hl, e) == ws::parse_status::complete);
        CHECK(h.masked);
        keys.insert(std::string(reinterpret_cast<const char*>(h.mask), 4));
        at += hl + h.length;
    }
    CHECK(keys.size() >= 20); // 21 random 32-bit keys: a repeat is a 1-in-10^7 event
    for (auto& fr : frames_after_head(srv.in))
        if (fr.op == opcode::text) CHECK(fr.payload == "same");
}

TEST_CASE("ws client: a server that answers wrongly fails the dial") {
    struct row {
        const char* what;
        std::string answer; // {ACCEPT} is replaced by the right accept value
        std::error_code expect;
    };
    std::vector<row> rows = {
        {"200 instead of 101", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
         ws::error::bad_status},
        {"wrong accept",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
         ws::error::bad_accept},
        {"no Upgrade header",
         "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n",
         ws::error::missing_upgrade},
        {"an extension nobody asked for",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
         ws::error::unexpected_extension},
    };
    for (auto& r : rows) {
        CAPTURE(r.what);
        bounded_loop loop;
        raw_ws_server srv(loop, r.answer);
        recording_client rc(loop, srv.url());
        REQUIRE(loop.run_until([&] { return rc.closed; }));
        CHECK_FALSE(rc.opened);
        CHECK(rc.st.code == 1006);
        CHECK(rc.st.ec == r.expect);
        CHECK(rc.c.send_text("x") == ws::error::closed);
    }
}

TEST_CASE("ws client: refused connection, bad URL and wss:// end in on_close") {
    bounded_loop loop;
    sluice::tcp_listener lst(loop);
    std::uint16_t port = listen_loopback(lst);
    lst.close(); // nothing listens there now
    recording_client refused(loop, "ws://127.0.0.1:" + std::to_string(port) + "/");
    recording_client bad(loop, "http://127.0.0.1/");
    recording_client tls(loop, "wss://127.0.0.1/");
    REQUIRE(loop.run_until([&] { return refused.closed && bad.closed && tls.closed; }));
    CHECK(refused.st.ec);
    CHECK(bad.st.ec == sluice::http::error::bad_url);
    CHECK(tls.st.ec == std::errc::protocol_not_supported);
    CHECK_FALSE(refused.opened);
}

TEST_CASE("ws client: handshake timeout against a server that never answers") {
    bounded_loop loop;
    raw_ws_server srv(loop, ""); // accepts, never answers
    ws::client_options o;
    o.handshake_timeout = std::chrono::milliseconds(100);
    recording_client rc(loop, srv.url(), o);
    REQUIRE(loop.run_until([&] { return rc.closed; }));
    CHECK(rc.st.ec == sluice::error::timed_out);
}

TEST_CASE("ws client: close handshake initiated by the client; the server closes TCP") {
    ws_fixture f;
    ws::close_status server_saw;
    std::string server_reason;
    f.wss.on_close([&](ws::connection&, const ws::close_status& s) {
        server_saw = s;
        server_reason = std::string(s.reason);
    });
    recording_client rc(f.loop, f.url());
    REQUIRE(f.loop.run_until([&] { return rc.opened; }));
    CHECK_FALSE(rc.c.close(4002, "done here"));
    CHECK(rc.c.send_text("after close") == ws::error::closed);
    REQUIRE(f.loop.run_until([&] { return rc.closed && !rc.c.is_open(); }));
    CHECK(rc.st.code == 4002); // the server echoed the code
    CHECK_FALSE(rc.st.ec);
    CHECK(server_saw.code == 4002);
    CHECK(server_reason == "done here");
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 0; }));
}

TEST_CASE("ws client: server-initiated close reaches the client's on_close") {
    ws_fixture f;
    f.wss.on_open([](ws::connection& c) { c.close(4100, "go away"); });
    recording_client rc(f.loop, f.url());
    REQUIRE(f.loop.run_until([&] { return rc.closed && !rc.c.is_open(); }));
    CHECK(rc.opened);
    CHECK(rc.st.code == 4100);
    CHECK(rc.reason == "go away");
    CHECK_FALSE(rc.st.ec);
}

TEST_CASE("ws client: outgoing fragmentation is reassembled by the server") {
    ws_fixture f;
    std::vector<std::string> got;
    f.wss.on_message([&](ws::connection&, const ws::message& m) { got.emplace_back(m.data); });
    ws::client_options o;
    o.settings.codec.fragment_size = 1000;
    recording_client rc(f.loop, f.url(), o);
    REQUIRE(f.loop.run_until([&] { return rc.opened; }));
    CHECK_FALSE(rc.c.send_binary(pattern(4500, 3)));
    REQUIRE(f.loop.run_until([&] { return got.size() == 1; }));
    CHECK(got[0] == pattern(4500, 3));
}

TEST_CASE("ws client: ping gets its pong") {
    ws_fixture f;
    recording_client rc(f.loop, f.url());
    REQUIRE(f.loop.run_until([&] { return rc.opened; }));
    CHECK_FALSE(rc.c.ping("abc"));
    REQUIRE(f.loop.run_until([&] { return rc.pongs.size() == 1; }));
    CHECK(rc.pongs[0] == "abc");
    CHECK(rc.c.ping(std::string(126, 'x')) == ws::error::payload_too_long);
}

TEST_CASE("ws client: writes beyond the hard cap are refused, not queued") {
    bounded_loop loop;
    raw_ws_server srv(loop, std::string(good_101), false); // answers, then never reads
    ws::client_options o;
    o.settings.write.hard_cap = 4 << 20;
    o.settings.send_limit = 0; // only the hard cap
    o.settings.on_send_limit = ws::send_limit_policy::drop;
    recording_client rc(loop, srv.url(), o);
    REQUIRE(loop.run_until([&] { return rc.opened; }));
    std::string chunk(256 * 1024, 'z');
    std::error_code ec;
    int sent = 0;
    for (int i = 0; i < 200 && !ec; ++i) {
        ec = rc.c.send_binary(chunk);
        if (!ec) ++sent;
        loop.run_for(std::chrono::milliseconds(1));
    }
    CHECK(ec == sluice::error::write_queue_full);
    CHECK(rc.c.buffered_amount() <= std::size_t(4 << 20));
    CHECK(rc.c.is_open()); // refused, not failed: the caller decides
}
