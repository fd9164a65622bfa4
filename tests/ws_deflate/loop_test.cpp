// permessage-deflate on the loop: the server's handshake answer and compressed frames seen
// on the wire, sluice's client against sluice's server and against python websockets'
// server, the client failing invalid answers, broadcast (never compressed), and the zlib
// memory of many idle connections.
#include "../ws_server/common.hpp"

#include <sluice/ws/deflate.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace test;
using sluice::ws::opcode;

namespace {

std::string bytes(std::initializer_list<int> l) {
    std::string s;
    for (int b : l) s += static_cast<char>(b);
    return s;
}

ws::deflate_settings takeover() {
    ws::deflate_settings s;
    s.no_context_takeover = false;
    s.peer_no_context_takeover = false;
    s.min_size = 0;
    return s;
}

ws::settings with_deflate(std::shared_ptr<ws::permessage_deflate> pmd) {
    ws::settings s;
    s.extensions = std::move(pmd);
    return s;
}

// Frames after the head, with their RSV bits (frames_after_head drops them).
std::vector<std::pair<std::uint8_t, std::string>> raw_frames(std::string_view in) {
    std::vector<std::pair<std::uint8_t, std::string>> out;
    std::size_t at = in.find("\r\n\r\n");
    if (at == std::string_view::npos) return out;
    at += 4;
    for (;;) {
        ws::frame_header h;
        std::size_t hl = 0;
        ws::error e{};
        const auto* p = reinterpret_cast<const std::uint8_t*>(in.data() + at);
        if (ws::parse_header(p, in.size() - at, h, hl, e) != ws::parse_status::complete) break;
        if (in.size() - at - hl < h.length) break;
        out.emplace_back(h.rsv, std::string(in.substr(at + hl, h.length)));
        at += hl + h.length;
    }
    return out;
}

const std::string rfc_hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

} // namespace

TEST_CASE("deflate server: the 101 accepts the offer, compressed frames both ways") {
    ws_fixture f(with_deflate(std::make_shared<ws::permessage_deflate>(takeover())));
    f.wss.on_message([](ws::connection& c, const ws::message& m) {
        CHECK_FALSE(c.send(m.op, m.data.data(), m.data.size()));
    });
    raw_client c(f.loop, f.port);
    c.send(upgrade_request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    c.send(frame(opcode::text, rfc_hello, true, true, ws::rsv1));
    c.send(frame(opcode::text, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), true, true, ws::rsv1));
    REQUIRE(f.loop.run_until([&] { return raw_frames(c.in).size() == 2; }));
    CHECK(c.in.find("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n") != std::string::npos);
    auto fr = raw_frames(c.in);
    // The echo of "Hello" twice, compressed with context takeover exactly as RFC 7692 shows.
    CHECK(fr[0].first == ws::rsv1);
    CHECK(fr[0].second == rfc_hello);
    CHECK(fr[1].first == ws::rsv1);
    CHECK(fr[1].second == bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
}

TEST_CASE("deflate server: declines malformed offers; no extension, no RSV1") {
    ws_fixture f(with_deflate(std::make_shared<ws::permessage_deflate>(takeover())));
    raw_client c(f.loop, f.port);
    c.send(upgrade_request("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7, "
                           "permessage-deflate; foo\r\n"));
    c.send(frame(opcode::text, rfc_hello, true, true, ws::rsv1));
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    CHECK(c.in.rfind("HTTP/1.1 101", 0) == 0);
    CHECK(c.in.find("Sec-WebSocket-Extensions") == std::string::npos);
    auto fr = frames_after_head(c.in);
    REQUIRE(fr.size() == 1);
    CHECK(fr[0].close_code() == 1002);
}

TEST_CASE("deflate: sluice's client and server, both context-takeover modes, broadcast") {
    for (bool nct : {false, true}) {
        CAPTURE(nct);
        ws::deflate_settings s = takeover();
        s.no_context_takeover = s.peer_no_context_takeover = nct;
        auto spmd = std::make_shared<ws::permessage_deflate>(s);
        auto cpmd = std::make_shared<ws::permessage_deflate>(s);
        ws_fixture f(with_deflate(spmd));
        f.wss.on_message([](ws::connection& c, const ws::message& m) {
            CHECK_FALSE(c.send(m.op, m.data.data(), m.data.size()));
        });
        ws::client_options o;
        o.settings.extensions = cpmd;
        recording_client rc(f.loop, f.url(), o);
        REQUIRE(f.loop.run_until([&] { return rc.opened; }));
        std::vector<std::string> sent;
        for (std::size_t n : {0u, 1u, 100u, 70000u, 1u << 20}) {
            std::string t;
            while (t.size() < n) t += "sluice deflate " + std::to_string(t.size() % 7) + " ";
            t.resize(n);
            sent.push_back(t);
            REQUIRE_FALSE(rc.c.send_text(t));
            REQUIRE_FALSE(rc.c.send_binary(t));
        }
        REQUIRE(f.loop.run_until([&] { return rc.got.size() == 2 * sent.size(); }));
        for (std::size_t i = 0; i < sent.size(); ++i) {
            CHECK(rc.got[2 * i].first == opcode::text);
            CHECK(rc.got[2 * i].second == sent[i]);
            CHECK(rc.got[2 * i + 1].first == opcode::binary);
            CHECK(rc.got[2 * i + 1].second == sent[i]);
        }
        // Context takeover keeps each side's zlib state; without it nothing stays but the
        // negotiators' small pools.
        if (!nct) {
            CHECK(spmd->zlib_bytes() > 100000);
            CHECK(cpmd->zlib_bytes() > 100000);
        }
        // A broadcast is one frame shared by every connection: never compressed (RSV1
        // clear is always valid), and the client reads it.
        CHECK(f.wss.broadcast_text(std::string(5000, 'b')) == 1);
        REQUIRE(f.loop.run_until([&] { return rc.got.size() == 2 * sent.size() + 1; }));
        CHECK(rc.got.back().second == std::string(5000, 'b'));
        REQUIRE_FALSE(rc.c.close());
        REQUIRE(f.loop.run_until([&] { return rc.closed; }));
        CHECK(rc.st.code == 1000);
    }
}

TEST_CASE("deflate client: offers it, and fails the connection on an invalid answer") {
    struct row {
        const char* what;
        const char* extensions; // the server's Sec-WebSocket-Extensions line
        std::error_code expect;
    };
    const row rows[] = {
        {"unknown parameter", "permessage-deflate; foo", ws::error::bad_extension_response},
        {"duplicate parameter",
         "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
         ws::error::bad_extension_response},
        {"client_max_window_bits without a value", "permessage-deflate; client_max_window_bits",
         ws::error::bad_extension_response},
        {"window bits out of range", "permessage-deflate; server_max_window_bits=16",
         ws::error::bad_extension_response},
        {"another extension", "x-webkit-deflate-frame", ws::error::unexpected_extension},
        {"two of them", "permessage-deflate, permessage-deflate", ws::error::unexpected_extension},
    };
    for (const row& r : rows) {
        CAPTURE(r.what);
        bounded_loop loop;
        raw_ws_server srv(loop, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
                                "Sec-WebSocket-Extensions: " +
                                    std::string(r.extensions) + "\r\n\r\n");
        ws::client_options o;
        o.settings.extensions = std::make_shared<ws::permessage_deflate>(takeover());
        recording_client rc(loop, srv.url(), o);
        REQUIRE(loop.run_until([&] { return rc.closed; }));
        CHECK(srv.in.find("\r\nSec-WebSocket-Extensions: permessage-deflate; "
                          "client_max_window_bits\r\n") != std::string::npos);
        CHECK_FALSE(rc.opened);
        CHECK(rc.st.code == 1006);
        CHECK(rc.st.ec == r.expect);
    }
    // A server that takes no extension: the connection opens, uncompressed.
    bounded_loop loop;
    raw_ws_server srv(loop);
    ws::client_options o;
    o.settings.extensions = std::make_shared<ws::permessage_deflate>(takeover());
    recording_client rc(loop, srv.url(), o);
    REQUIRE(loop.run_until([&] { return rc.opened; }));
    REQUIRE_FALSE(rc.c.send_text("Hello"));
    // The frame after the request head is "Hello" with RSV1 clear.
    REQUIRE(loop.run_until([&] { return raw_frames(srv.in).size() == 1; }));
    CHECK(raw_frames(srv.in)[0].first == 0);
    CHECK(raw_frames(srv.in)[0].second.size() == 5);
}

TEST_CASE("deflate server: many idle connections hold no zlib state without context takeover") {
    ws::deflate_settings s; // the defaults: no context takeover either way, pool of 2
    s.min_size = 0;
    auto spmd = std::make_shared<ws::permessage_deflate>(s);
    ws_fixture f(with_deflate(spmd));
    f.wss.on_message([](ws::connection& c, const ws::message& m) {
        CHECK_FALSE(c.send(m.op, m.data.data(), m.data.size()));
    });
    const std::size_t n = 20;
    std::vector<std::unique_ptr<recording_client>> clients;
    auto cpmd = std::make_shared<ws::permessage_deflate>(s);
    for (std::size_t i = 0; i < n; ++i) {
        ws::client_options o;
        o.settings.extensions = cpmd;
        clients.push_back(std::make_unique<recording_client>(f.loop, f.url(), o));
    }
    REQUIRE(f.loop.run_until([&] {
        for (auto& c : clients)
            if (!c->opened) return false;
        return true;
    }));
    const std::string t(100000, 'q');
    for (auto& c : clients) REQUIRE_FALSE(c->c.send_text(t));
    REQUIRE(f.loop.run_until([&] {
        for (auto& c : clients)
            if (c->got.size() != 1) return false;
        return true;
    }));
    for (auto& c : clients) CHECK(c->got[0].second == t);
    // Idle now: whatever zlib holds is the pool (2 inflaters + 2 deflaters at most),
    // whatever the number of connections.
    const std::size_t pool = spmd->zlib_bytes();
    MESSAGE(n << " idle server connections without context takeover: zlib holds " << pool
              << " bytes in all (the pool)");
    CHECK(pool <= 2 * (40 * 1024) + 2 * (270 * 1024));
    for (auto& c : clients) REQUIRE_FALSE(c->c.close());
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 0; }));
}

#if defined(SLUICE_DEFLATE_PEER_TESTS)
TEST_CASE("deflate client: sluice's client against python websockets' server") {
    // The python server prints its port, serves one connection and exits 0 after a clean
    // close. A missing python3-websockets fails this test (tools/install-deps.sh installs it).
    FILE* py = popen("/usr/bin/python3 " SLUICE_SOURCE_DIR "/tests/ws_clients/python_server.py", "r");
    REQUIRE(py != nullptr);
    char line[64] = {};
    REQUIRE(std::fgets(line, sizeof line, py) != nullptr);
    const int port = std::atoi(line);
    REQUIRE(port > 0);
    {
        bounded_loop loop;
        auto cpmd = std::make_shared<ws::permessage_deflate>(takeover());
        ws::client_options o;
        o.settings.extensions = cpmd;
        o.settings.codec.max_message_size = 64u << 20;
        recording_client rc(loop, "ws://127.0.0.1:" + std::to_string(port) + "/", o);
        REQUIRE(loop.run_until([&] { return rc.opened; }));
        REQUIRE_FALSE(rc.c.send_text("?extensions"));
        REQUIRE(loop.run_until([&] { return rc.got.size() == 1; }));
        const std::string& ext = rc.got[0].second;
        MESSAGE("offer|answer: " << ext);
        // Our offer reached python, and python accepted permessage-deflate.
        CHECK(ext.rfind("permessage-deflate; client_max_window_bits|permessage-deflate", 0) == 0);
        std::vector<std::pair<opcode, std::string>> sent;
        std::string rnd(1 << 20, '\0');
        unsigned x = 7;
        for (char& ch : rnd) {
            x = x * 1103515245u + 12345u;
            ch = static_cast<char>(x >> 24);
        }
        for (std::size_t n : {0u, 5u, 1000u, 65536u, 1u << 20, 16u << 20}) {
            std::string t;
            while (t.size() < n) t += "compressible text ✓ " + std::to_string(t.size() % 13);
            while (t.size() > n) t.pop_back();
            while (!t.empty() && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();
            if (!t.empty() && static_cast<unsigned char>(t.back()) >= 0xC0) t.pop_back();
            sent.emplace_back(opcode::text, t);
        }
        sent.emplace_back(opcode::binary, rnd);
        for (auto& m : sent) REQUIRE_FALSE(rc.c.send(m.first, m.second.data(), m.second.size()));
        REQUIRE(loop.run_until([&] { return rc.got.size() == 1 + sent.size() || rc.closed; },
                               std::chrono::seconds(120)));
        REQUIRE(rc.got.size() == 1 + sent.size());
        for (std::size_t i = 0; i < sent.size(); ++i) {
            CAPTURE(i);
            CHECK(rc.got[1 + i].first == sent[i].first);
            CHECK(rc.got[1 + i].second == sent[i].second);
        }
        // Our compressor kept its context (takeover): it really compressed.
        CHECK(cpmd->zlib_bytes() > 100000);
        REQUIRE_FALSE(rc.c.close());
        REQUIRE(loop.run_until([&] { return rc.closed; }));
        CHECK(rc.st.code == 1000);
    }
    std::string said; // what the python server printed after its port
    while (std::fgets(line, sizeof line, py)) said += line;
    MESSAGE("python_server: " << said);
    CHECK(pclose(py) == 0); // the python side saw a clean 1000
}
#endif
