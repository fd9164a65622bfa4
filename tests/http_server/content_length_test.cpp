// A Content-Length the handler sets is kept: a streamed body keeps it (no chunked framing),
// a HEAD answer announces it without a body, and a value that is not a length, or a body
// that does not match it, makes the response a 500 rather than a lie on the wire.
#include "common.hpp"

#include <string>
#include <vector>

using test::raw_client;
namespace http = sluice::http;

namespace {

std::vector<test::parsed_response> ask(test::http_fixture& f, const std::string& requests,
                                       std::size_t n, std::vector<http::verb> verbs = {}) {
    raw_client c(f.loop, f.port);
    c.send(requests);
    std::vector<test::parsed_response> got;
    REQUIRE(f.loop.run_until([&] {
        got = test::parse_responses(c.in, verbs);
        return got.size() >= n;
    }));
    return got;
}

} // namespace

TEST_CASE("http server: a Content-Length header set by the handler frames a streamed body") {
    test::http_fixture f;
    f.server.on_request([](const http::request_view&, http::response& res) {
        res.header("Content-Length", "10");
        CHECK(res.write("01234"));
        CHECK(res.write("56789"));
        CHECK_FALSE(res.write("!")); // past the announced length: refused
        res.end();
    });
    f.listen();
    auto got = ask(f, test::get_request("/a") + test::get_request("/b"), 2);
    for (auto& r : got) {
        CHECK(r.status == 200);
        CHECK_FALSE(r.chunked);
        CHECK(r.get("Content-Length") == "10");
        CHECK(r.body == "0123456789");
    }
}

TEST_CASE("http server: HEAD announces the handler's Content-Length without a body") {
    test::http_fixture f;
    f.server.on_request([](const http::request_view&, http::response& res) {
        res.header("Content-Length", "1234").end();
    });
    f.listen();
    auto got = ask(f, "HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n" + test::get_request("/next"), 1,
                   {http::verb::head});
    CHECK(got[0].status == 200);
    CHECK(got[0].get("Content-Length") == "1234");
    CHECK(got[0].body.empty());
}

TEST_CASE("http server: a bad Content-Length, or a body that contradicts it, is a 500") {
    test::http_fixture f;
    f.server.on_request([](const http::request_view& req, http::response& res) {
        std::string_view p = req.path();
        if (p == "/match") return res.header("Content-Length", "5").end("hello");
        if (p == "/longer") return res.header("Content-Length", "5").end("hello world");
        if (p == "/letters") return res.header("Content-Length", "12x").end("hello");
        if (p == "/sign") return res.header("Content-Length", "+5").end("hello");
        if (p == "/empty") return res.header("Content-Length", "").end("hello");
        if (p == "/huge") return res.header("Content-Length", "99999999999999999999").end("x");
        res.end("?");
    });
    f.listen();
    const char* paths[] = {"/match", "/longer", "/letters", "/sign", "/empty", "/huge"};
    std::string reqs;
    for (const char* p : paths) reqs += test::get_request(p);
    auto got = ask(f, reqs, 1);
    REQUIRE(!got.empty());
    CHECK(got[0].status == 200);
    CHECK(got[0].body == "hello");
    // The 500s close the connection: one request per connection from here on.
    for (std::size_t i = 1; i < std::size(paths); ++i) {
        CAPTURE(paths[i]);
        auto r = ask(f, test::get_request(paths[i]), 1);
        CHECK(r[0].status == 500);
    }
}
