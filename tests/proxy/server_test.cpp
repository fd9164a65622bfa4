// http::server with server_settings::proxy_protocol on loopback: the handler sees the
// client a PROXY v1 or v2 header names; a connection without a valid header is closed
// without an answer; with the option off (the default) the header is just bad HTTP.
#include "../http_server/common.hpp"

#include <sluice/proxy/proxy_protocol.hpp>

using namespace std::chrono_literals;
namespace http = sluice::http;
namespace proxy = sluice::proxy;
using sluice::endpoint;
using test::parse_responses;
using test::raw_client;

namespace {

http::server_settings with_proxy() {
    http::server_settings s;
    s.proxy_protocol = true;
    return s;
}

// Answers with the client address the server reports.
void who(const http::request_view& req, http::response& res) { res.end(req.client().to_string()); }

} // namespace

TEST_CASE("proxy server: a v1 header names the client for every request on the connection") {
    test::http_fixture f(with_proxy());
    f.server.on_request(who);
    f.listen();
    raw_client c(f.loop, f.port);
    c.send("PROXY TCP4 203.0.113.7 192.0.2.1 51000 80\r\n" + test::get_request("/a"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    c.send(test::get_request("/b"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].status == 200);
    CHECK(r[0].body == "203.0.113.7:51000");
    CHECK(r[1].body == "203.0.113.7:51000");
    CHECK_FALSE(c.closed);
}

TEST_CASE("proxy server: a v2 header split over reads, then pipelined requests") {
    test::http_fixture f(with_proxy());
    f.server.on_request(who);
    f.listen();
    raw_client c(f.loop, f.port);
    std::string h;
    REQUIRE(proxy::append_v2(h, proxy::command::proxy, endpoint::parse("2001:db8::7", 4242),
                             endpoint::parse("2001:db8::1", 443), {}, true));
    REQUIRE(f.loop.run_until([&] { return c.connected; }));
    c.send(h.substr(0, 10));
    f.loop.run_for(100ms); // the server holds the partial header
    c.send(h.substr(10) + test::get_request("/a") + test::get_request("/b"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].body == "[2001:db8::7]:4242");
    CHECK(r[1].body == "[2001:db8::7]:4242");
    CHECK(f.server.requests() == 2);
}

TEST_CASE("proxy server: LOCAL and UNKNOWN leave the real peer") {
    test::http_fixture f(with_proxy());
    f.server.on_request(who);
    f.listen();
    std::string local;
    REQUIRE(proxy::append_v2(local, proxy::command::local, endpoint(), endpoint()));
    for (const std::string& header : {local, std::string("PROXY UNKNOWN\r\n")}) {
        raw_client c(f.loop, f.port);
        c.send(header + test::get_request("/"));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
        std::error_code ec;
        const endpoint mine = c.s.local_endpoint(ec);
        REQUIRE_FALSE(ec);
        CHECK(parse_responses(c.in)[0].body == mine.to_string());
    }
}

TEST_CASE("proxy server: no header, or a bad one, closes the connection unanswered") {
    http::server_settings s = with_proxy();
    s.header_timeout = 300ms;
    test::http_fixture f(s);
    int calls = 0;
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        ++calls;
        who(req, res);
    });
    f.listen();
    for (const std::string& start :
         {test::get_request("/"), std::string("PROXY TCP4 1.2.3.4\r\n") + test::get_request("/"),
          std::string("PROXY TCP4 1.2.3.4 5.6.7.8 80 080\r\n"),
          std::string(proxy::v2_signature) + "\x22\x11" + std::string(14, '\0'),
          std::string("PROX")}) { // the last one stalls: the header timeout closes it
        raw_client c(f.loop, f.port);
        c.send(start);
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        CHECK(c.in.empty());
    }
    CHECK(calls == 0);
    CHECK(f.loop.run_until([&] { return f.server.connections() == 0; }));
}

TEST_CASE("proxy server: off by default, the header is bad HTTP and client() is the peer") {
    test::http_fixture f;
    f.server.on_request(who);
    f.listen();
    raw_client plain(f.loop, f.port);
    plain.send(test::get_request("/"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(plain.in).size() == 1; }));
    std::error_code ec;
    CHECK(parse_responses(plain.in)[0].body == plain.s.local_endpoint(ec).to_string());

    raw_client c(f.loop, f.port);
    c.send("PROXY TCP4 203.0.113.7 192.0.2.1 51000 80\r\n" + test::get_request("/"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].status == 400);
}
