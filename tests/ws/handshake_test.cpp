// The opening handshake: accept value, server accept/reject table, client request and checks.
#include <ostream> // doctest prints std::error_code through operator<<
#include <doctest/doctest.h>

#include <sluice/util/sha1.hpp>
#include <sluice/ws/handshake.hpp>

#include <string>
#include <vector>

using namespace sluice::ws;

namespace {
const std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";

std::vector<header_field> good_headers() {
    return {{"Host", "server.example.com"},   {"Upgrade", "websocket"},
            {"Connection", "Upgrade"},        {"Sec-WebSocket-Key", sample_key},
            {"Origin", "http://example.com"}, {"Sec-WebSocket-Protocol", "chat, superchat"},
            {"Sec-WebSocket-Version", "13"}};
}

std::vector<header_field> without(std::vector<header_field> h, std::string_view name) {
    std::vector<header_field> out;
    for (auto& f : h)
        if (!iequals(f.name, name)) out.push_back(f);
    return out;
}

std::vector<header_field> with(std::vector<header_field> h, std::string_view name,
                               std::string_view value) {
    h = without(h, name);
    h.push_back({name, value});
    return h;
}

// Splits a request/response head into its first line and header fields (test helper only).
std::vector<header_field> split_head(std::string_view head, std::string_view& first_line) {
    std::vector<header_field> out;
    std::size_t e = head.find("\r\n");
    first_line = head.substr(0, e);
    head.remove_prefix(e + 2);
    while (!head.empty() && head.substr(0, 2) != "\r\n") {
        e = head.find("\r\n");
        const std::string_view line = head.substr(0, e);
        const std::size_t c = line.find(':');
        out.push_back({line.substr(0, c), line.substr(c + 1)});
        head.remove_prefix(e + 2);
    }
    CHECK(head == "\r\n");
    return out;
}
} // namespace

// RFC 6455 §1.3 and §4.2.2 give s3pPLMBiTxaQ9kYGzzhZRbK+xOo= for this key (the value that
// SHA-1 + base64 produce; both are checked against their own RFC vectors in util_test.cpp).
// SHA-1 works on big-endian 32-bit words: its digest bytes are checked too, so a word
// stored in host order on a little- or big-endian target fails here.
TEST_CASE("wire: handshake accept key for the RFC 6455 sample key") {
    CHECK(compute_accept(sample_key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    std::string concatenated(sample_key);
    concatenated += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const sluice::util::sha1::digest want = {0xb3, 0x7a, 0x4f, 0x2c, 0xc0, 0x62, 0x4f,
                                             0x16, 0x90, 0xf6, 0x46, 0x06, 0xcf, 0x38,
                                             0x59, 0x45, 0xb2, 0xbe, 0xc4, 0xea};
    CHECK(sluice::util::sha1::hash(concatenated) == want);
}

TEST_CASE("handshake: token lists and header lookup") {
    const header_field f[] = {
        {"connection", "keep-alive, Upgrade"}, {"X", "a"}, {"CONNECTION", "close"}};
    header_list h(f);
    CHECK(h.has_token("Connection", "upgrade"));
    CHECK(h.has_token("connection", "CLOSE"));
    CHECK(!h.has_token("Connection", "keep"));
    CHECK(h.count("Connection") == 2);
    CHECK(h.get("x") == "a");
    CHECK(trim_ows(" \t v \t") == "v");
    CHECK(is_http11_or_later("HTTP/1.1"));
    CHECK(is_http11_or_later("HTTP/1.10"));
    CHECK(!is_http11_or_later("HTTP/1.0"));
    CHECK(!is_http11_or_later("HTTP/2"));
}

TEST_CASE("handshake: server accepts the RFC example request and selects a subprotocol") {
    auto hs = good_headers();
    const std::string_view prefs[] = {"superchat", "chat"};
    server_config cfg;
    cfg.subprotocols = prefs;
    cfg.extra_headers = "Server: sluice\r\n";
    auto r = accept_handshake({"GET", "HTTP/1.1", hs}, cfg);
    REQUIRE(r.ok());
    CHECK(!r.ec);
    CHECK(r.subprotocol == "superchat"); // the server's preference wins
    CHECK(r.response ==
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          "Sec-WebSocket-Protocol: superchat\r\nServer: sluice\r\n\r\n");
    // No common subprotocol: no header, still accepted.
    const std::string_view other[] = {"mqtt"};
    cfg.subprotocols = other;
    r = accept_handshake({"GET", "HTTP/1.1", hs}, cfg);
    REQUIRE(r.ok());
    CHECK(r.subprotocol.empty());
    CHECK(r.response.find("Sec-WebSocket-Protocol") == std::string::npos);
}

TEST_CASE("handshake: server accepts token variations") {
    auto base = good_headers();
    const std::vector<std::vector<header_field>> ok = {
        with(base, "Upgrade", "WebSocket"),
        with(base, "Upgrade", "foo, websocket"),
        with(base, "Connection", "keep-alive, upgrade"),
        with(base, "Connection", "  UPGRADE  "),
        with(base, "Sec-WebSocket-Key", "  dGhlIHNhbXBsZSBub25jZQ==  "),
        without(base, "Origin"),
        without(base, "Sec-WebSocket-Protocol"),
    };
    for (const auto& h : ok) CHECK(accept_handshake({"GET", "HTTP/1.1", h}).ok());
    // Connection split over two header lines.
    auto two = without(base, "Connection");
    two.push_back({"connection", "keep-alive"});
    two.push_back({"connection", "upgrade"});
    CHECK(accept_handshake({"GET", "HTTP/1.1", two}).ok());
}

TEST_CASE("handshake: server rejection table") {
    auto base = good_headers();
    struct bad_case {
        std::string_view method, version;
        std::vector<header_field> headers;
        error e;
        int status;
    };
    auto dup_key = base;
    dup_key.push_back({"Sec-WebSocket-Key", sample_key});
    const bad_case cases[] = {
        {"POST", "HTTP/1.1", base, error::bad_method, 405},
        {"get", "HTTP/1.1", base, error::bad_method, 405},
        {"GET", "HTTP/1.0", base, error::bad_http_version, 400},
        {"GET", "HTTP/1.1", without(base, "Host"), error::missing_host, 400},
        {"GET", "HTTP/1.1", without(base, "Upgrade"), error::missing_upgrade, 400},
        {"GET", "HTTP/1.1", with(base, "Upgrade", "websocketx"), error::missing_upgrade, 400},
        {"GET", "HTTP/1.1", with(base, "Upgrade", "h2c"), error::missing_upgrade, 400},
        {"GET", "HTTP/1.1", without(base, "Connection"), error::missing_connection_upgrade, 400},
        {"GET", "HTTP/1.1", with(base, "Connection", "upgraded"), error::missing_connection_upgrade,
         400},
        {"GET", "HTTP/1.1", without(base, "Sec-WebSocket-Key"), error::bad_key, 400},
        {"GET", "HTTP/1.1", dup_key, error::bad_key, 400},
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"),
         error::bad_key, 400},
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZXg="),
         error::bad_key, 400}, // 17 bytes
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j"), error::bad_key,
         400}, // 15 bytes
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR=="),
         error::bad_key, 400}, // non-canonical
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q=="),
         error::bad_key, 400},
        {"GET", "HTTP/1.1", without(base, "Sec-WebSocket-Version"), error::bad_version, 426},
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Version", "8"), error::bad_version, 426},
        {"GET", "HTTP/1.1", with(base, "Sec-WebSocket-Version", "13, 8"), error::bad_version, 426},
    };
    for (const auto& c : cases) {
        CAPTURE(c.e);
        auto r = accept_handshake({c.method, c.version, c.headers});
        CHECK(!r.ok());
        CHECK(r.ec == c.e);
        CHECK(r.status == c.status);
        CHECK(r.response.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0) == 0);
        CHECK(r.response.find("Connection: close\r\n") != std::string::npos);
        CHECK(r.response.substr(r.response.size() - 4) == "\r\n\r\n");
        if (c.status == 426)
            CHECK(r.response.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
        if (c.status == 405) CHECK(r.response.find("\r\nAllow: GET\r\n") != std::string::npos);
    }
}

TEST_CASE("handshake: origin hook") {
    auto hs = good_headers();
    std::string seen;
    auto only_example = [&](std::string_view o) {
        seen = std::string(o);
        return o == "http://example.com";
    };
    server_config cfg;
    cfg.check_origin = origin_hook::from(only_example);
    CHECK(accept_handshake({"GET", "HTTP/1.1", hs}, cfg).ok());
    CHECK(seen == "http://example.com");
    auto evil = with(hs, "Origin", "http://evil.example");
    auto r = accept_handshake({"GET", "HTTP/1.1", evil}, cfg);
    CHECK(r.status == 403);
    CHECK(r.ec == error::origin_rejected);
    r = accept_handshake({"GET", "HTTP/1.1", without(hs, "Origin")}, cfg);
    CHECK(r.status == 403);
    CHECK(seen.empty());
}

namespace {
struct fixed_rng {
    void operator()(std::uint8_t* out, std::size_t n) {
        const char* nonce = "the sample nonce";
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(nonce[i % 16]);
    }
};
} // namespace

TEST_CASE("handshake: client request, server answer, client verification round trip") {
    fixed_rng rng;
    const std::string_view offer[] = {"chat", "superchat"};
    client_config cc;
    cc.host = "server.example.com";
    cc.target = "/chat";
    cc.origin = "http://example.com";
    cc.subprotocols = offer;
    auto req = make_client_request(cc, random_source::from(rng));
    CHECK(req.key == sample_key); // RFC 6455's nonce is "the sample nonce"
    CHECK(req.request == "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n"
                         "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n");
    std::string_view line;
    auto rh = split_head(req.request, line);
    CHECK(line == "GET /chat HTTP/1.1");
    const std::string_view prefs[] = {"superchat"};
    server_config sc;
    sc.subprotocols = prefs;
    auto sr = accept_handshake({"GET", "HTTP/1.1", rh}, sc);
    REQUIRE(sr.ok());
    auto resh = split_head(sr.response, line);
    CHECK(line == "HTTP/1.1 101 Switching Protocols");
    std::string_view chosen;
    CHECK(!verify_response({"HTTP/1.1", 101, resh}, req.key, cc, &chosen));
    CHECK(chosen == "superchat");
}

TEST_CASE("handshake: default random source gives distinct keys") {
    client_config cc;
    cc.host = "h";
    auto a = make_client_request(cc), b = make_client_request(cc);
    CHECK(a.key.size() == 24);
    CHECK(a.key != b.key);
    std::string raw;
    CHECK(sluice::util::base64_decode(a.key, raw));
    CHECK(raw.size() == 16);
}

TEST_CASE("handshake: client rejection table") {
    const std::string accept = compute_accept(sample_key);
    const std::vector<header_field> good = {
        {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", accept}};
    const std::string_view offer[] = {"chat"};
    client_config cc;
    cc.subprotocols = offer;
    CHECK(!verify_response({"HTTP/1.1", 101, good}, sample_key, cc));
    CHECK(!verify_response({"HTTP/1.1", 101, with(good, "Sec-WebSocket-Protocol", "chat")},
                           sample_key, cc));
    struct bad_case {
        std::string_view version;
        int status;
        std::vector<header_field> headers;
        error e;
    };
    auto dup = good;
    dup.push_back({"Sec-WebSocket-Accept", accept});
    auto two_proto = with(good, "Sec-WebSocket-Protocol", "chat");
    two_proto.push_back({"Sec-WebSocket-Protocol", "chat"});
    const bad_case cases[] = {
        {"HTTP/1.1", 200, good, error::bad_status},
        {"HTTP/1.1", 426, good, error::bad_status},
        {"HTTP/1.0", 101, good, error::bad_status},
        {"HTTP/1.1", 101, without(good, "Upgrade"), error::missing_upgrade},
        {"HTTP/1.1", 101, with(good, "Upgrade", "h2c"), error::missing_upgrade},
        {"HTTP/1.1", 101, without(good, "Connection"), error::missing_connection_upgrade},
        {"HTTP/1.1", 101, without(good, "Sec-WebSocket-Accept"), error::bad_accept},
        {"HTTP/1.1", 101, with(good, "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOO="),
         error::bad_accept},
        {"HTTP/1.1", 101, dup, error::bad_accept},
        {"HTTP/1.1", 101, with(good, "Sec-WebSocket-Extensions", "permessage-deflate"),
         error::unexpected_extension},
        {"HTTP/1.1", 101, with(good, "Sec-WebSocket-Protocol", "superchat"),
         error::unexpected_subprotocol},
        {"HTTP/1.1", 101, with(good, "Sec-WebSocket-Protocol", "chat, superchat"),
         error::unexpected_subprotocol},
        {"HTTP/1.1", 101, two_proto, error::unexpected_subprotocol},
    };
    for (const auto& c : cases) {
        CAPTURE(c.e);
        CHECK(verify_response({c.version, c.status, c.headers}, sample_key, cc) == c.e);
    }
    // A subprotocol when none was offered.
    client_config none;
    CHECK(verify_response({"HTTP/1.1", 101, with(good, "Sec-WebSocket-Protocol", "chat")},
                          sample_key, none) == error::unexpected_subprotocol);
}
