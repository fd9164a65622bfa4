#include <ostream>

#include <doctest/doctest.h>

#include <sluice/http.hpp>

#include <string>

namespace http = sluice::http;

TEST_CASE("http serializer: response with Content-Length round-trips") {
    std::string out;
    http::serializer<std::string> s(out);
    s.status_line(200)
        .header("Content-Type", "text/plain")
        .content_length(13)
        .end_head()
        .body("Hello, World!");
    REQUIRE(!s.error());
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, "
                 "World!");
    http::message_storage<8> m;
    http::parser p(http::parser::response, m);
    http::result r = p.feed(out);
    REQUIRE(r.ev == http::event::head);
    CHECK(m.status == 200);
    r = p.feed(out.data() + r.consumed, out.size() - r.consumed);
    REQUIRE(r.ev == http::event::body);
    CHECK(r.data == "Hello, World!");
}

TEST_CASE("http serializer: chunked request with trailers round-trips") {
    std::string out;
    http::serializer<std::string> s(out);
    http::header trailer[] = {{"X-Checksum", "abc"}};
    s.request_line("PUT", "/upload?x=1").header("Host", "example.com").chunked().end_head();
    s.chunk("hello ").chunk("").chunk(std::string(300, 'z')).last_chunk(trailer, 1);
    REQUIRE(!s.error());
    CHECK(out.find("6\r\nhello \r\n12C\r\n") != std::string::npos);
    http::message_storage<8> m;
    http::parser p(http::parser::request, m);
    std::size_t off = 0;
    std::string body;
    bool done = false;
    for (int i = 0; i < 10 && !done; ++i) {
        http::result r = p.feed(out.data() + off, out.size() - off);
        off += r.consumed;
        if (r.ev == http::event::body) body.append(r.data.data(), r.data.size());
        if (r.ev == http::event::done) done = true;
        REQUIRE(r.ev != http::event::error);
    }
    CHECK(done);
    CHECK(off == out.size());
    CHECK(body == "hello " + std::string(300, 'z'));
    REQUIRE(m.num_trailers == 1);
    CHECK(m.trailers()[0].value == "abc");
}

TEST_CASE("http serializer: refuses response splitting and bad fields") {
    std::string out;
    SUBCASE("CRLF in value") {
        http::serializer<std::string> s(out);
        s.status_line(200).header("X", "a\r\nSet-Cookie: evil=1");
        CHECK(s.error() == http::error::invalid_field);
        CHECK(out.find("evil") == std::string::npos);
    }
    SUBCASE("bad name") {
        http::serializer<std::string> s(out);
        s.status_line(200).header("Bad Name", "x");
        CHECK(s.error() == http::error::invalid_field);
    }
    SUBCASE("NUL in value") {
        http::serializer<std::string> s(out);
        s.header("X", std::string("a\0b", 3));
        CHECK(s.error() == http::error::invalid_field);
    }
    SUBCASE("space in target") {
        http::serializer<std::string> s(out);
        s.request_line("GET", "/a b");
        CHECK(s.error() == http::error::invalid_field);
    }
    SUBCASE("bad status") {
        http::serializer<std::string> s(out);
        s.status_line(42);
        CHECK(s.error() == http::error::invalid_field);
    }
    SUBCASE("four-digit status") {
        http::serializer<std::string> s(out);
        s.status_line(1000);
        CHECK(s.error() == http::error::invalid_field);
        CHECK(out.empty());
    }
}

TEST_CASE("http serializer: fixed buffer, no allocation, overflow reported") {
    char buf[64];
    http::out_buffer b(buf, sizeof buf);
    http::serializer<http::out_buffer> s(b);
    s.status_line(404).content_length(0).end_head();
    REQUIRE(!s.error());
    CHECK(b.view() == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    char tiny[10];
    http::out_buffer sb(tiny, sizeof tiny);
    http::serializer<http::out_buffer> s2(sb);
    s2.status_line(200);
    CHECK(s2.error() == http::error::buffer_too_small);
}

TEST_CASE("http serializer: custom reason, HTTP/1.0, unknown status") {
    std::string out;
    http::serializer<std::string> s(out);
    s.status_line(299, {}, 0).end_head();
    CHECK(out == "HTTP/1.0 299 \r\n\r\n");
    out.clear();
    http::serializer<std::string> edges(out);
    edges.status_line(100, "").status_line(999, "");
    CHECK(out == "HTTP/1.1 100 \r\nHTTP/1.1 999 \r\n");
    out.clear();
    http::serializer<std::string> s2(out);
    s2.status_line(200, "Fine");
    CHECK(out == "HTTP/1.1 200 Fine\r\n");
    CHECK(http::continue_100 == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("http date: IMF-fixdate, cached per second") {
    char buf[http::imf_fixdate_size];
    http::format_imf_fixdate(784111777, buf); // RFC 9110's example
    CHECK(std::string(buf, sizeof buf) == "Sun, 06 Nov 1994 08:49:37 GMT");
    http::format_imf_fixdate(0, buf);
    CHECK(std::string(buf, sizeof buf) == "Thu, 01 Jan 1970 00:00:00 GMT");
    http::format_imf_fixdate(951782400, buf); // leap day 2000
    CHECK(std::string(buf, sizeof buf) == "Tue, 29 Feb 2000 00:00:00 GMT");
    http::format_imf_fixdate(4102444799, buf);
    CHECK(std::string(buf, sizeof buf) == "Thu, 31 Dec 2099 23:59:59 GMT");
    http::format_imf_fixdate(-1, buf);
    CHECK(std::string(buf, sizeof buf) == "Wed, 31 Dec 1969 23:59:59 GMT");

    http::date_cache dc;
    CHECK(dc.get(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(dc.get(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(dc.formats() == 1);
    CHECK(dc.get(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
    CHECK(dc.formats() == 2);
    CHECK(dc.now().size() == 29);
    CHECK(dc.now().substr(26) == "GMT");
}
