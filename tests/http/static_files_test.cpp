#include <ostream>

#include <doctest/doctest.h>

#include <sluice/http.hpp>

#include <cstdint>
#include <string>

namespace http = sluice::http;
namespace sd = sluice::http::static_detail;

namespace {

std::string range_text(std::string_view field, std::uint64_t size) {
    sd::byte_range r;
    switch (sd::parse_range(field, size, r)) {
    case sd::range_kind::whole:
        return "whole";
    case sd::range_kind::unsatisfiable:
        return "416";
    case sd::range_kind::partial:
        break;
    }
    return std::to_string(r.first) + "+" + std::to_string(r.length);
}

std::string rel(std::string_view raw) {
    std::string out;
    return sd::relative_path(raw, out) ? "ok:" + out : "refused";
}

} // namespace

TEST_CASE("static files: single byte ranges") {
    CHECK(range_text("bytes=0-9", 100) == "0+10");
    CHECK(range_text("bytes=10-19", 100) == "10+10");
    CHECK(range_text("bytes=90-", 100) == "90+10");
    CHECK(range_text("bytes=-10", 100) == "90+10");
    CHECK(range_text("bytes=-1000", 100) == "0+100"); // the whole file, still a 206
    CHECK(range_text("bytes=95-200", 100) == "95+5");  // clipped at the end
    CHECK(range_text("bytes=99-99", 100) == "99+1");
    CHECK(range_text(" Bytes = 5-6 ", 100) == "5+2");
    CHECK(range_text("bytes=0-18446744073709551615", 100) == "0+100");
    CHECK(range_text("bytes=0-99999999999999999999999", 100) == "0+100"); // saturates

    CHECK(range_text("bytes=100-", 100) == "416");
    CHECK(range_text("bytes=100-200", 100) == "416");
    CHECK(range_text("bytes=-0", 100) == "416");
    CHECK(range_text("bytes=0-", 0) == "416"); // an empty file has no byte to give
    CHECK(range_text("bytes=-5", 0) == "416");
    CHECK(range_text("bytes=99999999999999999999999-", 100) == "416");

    // Ignored: the whole file with a 200.
    CHECK(range_text("", 100) == "whole");
    CHECK(range_text("bytes=0-1,5-6", 100) == "whole"); // several ranges
    CHECK(range_text("bytes=9-3", 100) == "whole");     // last before first
    CHECK(range_text("items=0-9", 100) == "whole");     // another unit
    CHECK(range_text("bytes=", 100) == "whole");
    CHECK(range_text("bytes=-", 100) == "whole");
    CHECK(range_text("bytes=a-b", 100) == "whole");
    CHECK(range_text("bytes=1-2x", 100) == "whole");
    CHECK(range_text("bytes=+1-2", 100) == "whole");
    CHECK(range_text("bytes 0-9", 100) == "whole");
}

TEST_CASE("static files: request paths inside the root") {
    CHECK(rel("/") == "ok:");
    CHECK(rel("/a.txt") == "ok:a.txt");
    CHECK(rel("/sub/") == "ok:sub/");
    CHECK(rel("/sub/x.html") == "ok:sub/x.html");
    CHECK(rel("//sub//x") == "ok:sub/x"); // empty segments collapse
    CHECK(rel("/with%20space/caf%C3%A9.txt") == "ok:with space/caf\xC3\xA9.txt");
    CHECK(rel("/.well-known/x") == "ok:.well-known/x"); // a dot file is a name, not a step
    CHECK(rel("/a..b") == "ok:a..b");
}

TEST_CASE("static files: every path that could leave the root is refused") {
    for (const char* raw : {
             "/../etc/passwd", "/..", "/.", "/a/./b", "/a/../b",
             "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2e/etc", "/sub/%2E%2E/%2e%2e/etc/passwd",
             "/%2e/x", "/..%2fetc%2fpasswd", "/a%2Fb", "/%2e%2e%5cetc", "/a%5Cb",
             "/a\\b", "/..\\etc", "/a%00b", "/a%0", "/a%zz", "/C:/windows", "/c%3A/x",
             "/a/.../b", "/a/.. /b", "/a/%2e%2e%20/b", "etc/passwd", "", "*",
             "http://host/etc/passwd"}) {
        INFO(raw);
        CHECK(rel(raw) == "refused");
    }
    // A router's wildcard parameter arrives decoded: the same segment rules apply.
    std::string out;
    CHECK(!sd::decoded_relative_path("../x", out));
    CHECK(!sd::decoded_relative_path("a/../../x", out));
    CHECK(!sd::decoded_relative_path(std::string_view("a\0b", 3), out));
    CHECK(!sd::decoded_relative_path("a\\..\\x", out));
    REQUIRE(sd::decoded_relative_path("a/b c/", out));
    CHECK(out == "a/b c/");
    // ... and the raw path it came from must not hide a '/', '\' or NUL in an escape.
    CHECK(sd::raw_path_clean("/static/a%20b"));
    CHECK(!sd::raw_path_clean("/static/..%2f..%2fetc"));
    CHECK(!sd::raw_path_clean("/static/a%5cb"));
    CHECK(!sd::raw_path_clean("/static/a%00"));
    CHECK(!sd::raw_path_clean("/static/a%"));
}

TEST_CASE("static files: IMF-fixdate both ways") {
    char buf[29];
    sd::format_http_date(784111777, buf); // RFC 9110's example
    CHECK(std::string(buf, 29) == "Sun, 06 Nov 1994 08:49:37 GMT");
    sd::format_http_date(0, buf);
    CHECK(std::string(buf, 29) == "Thu, 01 Jan 1970 00:00:00 GMT");
    sd::format_http_date(951782400, buf); // a leap day
    CHECK(std::string(buf, 29) == "Tue, 29 Feb 2000 00:00:00 GMT");

    std::int64_t t = 0;
    REQUIRE(sd::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", t));
    CHECK(t == 784111777);
    REQUIRE(sd::parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", t));
    CHECK(t == 951782400);
    for (std::int64_t x : {std::int64_t(0), std::int64_t(1700000000), std::int64_t(4102444799)}) {
        sd::format_http_date(x, buf);
        REQUIRE(sd::parse_http_date(std::string_view(buf, 29), t));
        CHECK(t == x);
    }
    CHECK(!sd::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", t)); // RFC 850: not taken
    CHECK(!sd::parse_http_date("Sun Nov  6 08:49:37 1994", t));       // asctime: not taken
    CHECK(!sd::parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT", t));  // wrong weekday
    CHECK(!sd::parse_http_date("Thu, 31 Feb 2000 00:00:00 GMT", t));  // no such day
    CHECK(!sd::parse_http_date("Sun, 06 Nov 1994 24:49:37 GMT", t));
    CHECK(!sd::parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", t));
    CHECK(!sd::parse_http_date("", t));
}

TEST_CASE("static files: weak ETag from size and mtime, If-None-Match") {
    const std::string e = sd::make_etag(1048576, 1700000000, 5);
    CHECK(e == "W/\"100000-" + std::string("17979cfe362a0005") + "\"");
    CHECK(sd::make_etag(1048577, 1700000000, 5) != e); // size changes the tag
    CHECK(sd::make_etag(1048576, 1700000000, 6) != e); // so does the mtime
    CHECK(sd::none_match_hits(e, e));
    CHECK(sd::none_match_hits(e.substr(2), e)); // weak comparison: W/ ignored
    CHECK(sd::none_match_hits("\"x\", " + e, e));
    CHECK(sd::none_match_hits("*", e));
    CHECK(!sd::none_match_hits("\"x\"", e));
    CHECK(!sd::none_match_hits("W/\"100000-17979cfe362a0006\"", e));
}

TEST_CASE("static files: content types by extension") {
    CHECK(sd::content_type("/a/index.html") == "text/html; charset=utf-8");
    CHECK(sd::content_type("x.CSS") == "text/css; charset=utf-8");
    CHECK(sd::content_type("app.js") == "text/javascript; charset=utf-8");
    CHECK(sd::content_type("d.json") == "application/json");
    CHECK(sd::content_type("i.svg") == "image/svg+xml");
    CHECK(sd::content_type("i.png") == "image/png");
    CHECK(sd::content_type("i.jpg") == "image/jpeg");
    CHECK(sd::content_type("i.gif") == "image/gif");
    CHECK(sd::content_type("i.webp") == "image/webp");
    CHECK(sd::content_type("favicon.ico") == "image/x-icon");
    CHECK(sd::content_type("m.wasm") == "application/wasm");
    CHECK(sd::content_type("d.pdf") == "application/pdf");
    CHECK(sd::content_type("d.xml") == "application/xml");
    CHECK(sd::content_type("v.mp4") == "video/mp4");
    CHECK(sd::content_type("f.woff2") == "font/woff2");
    CHECK(sd::content_type("notes.txt") == "text/plain; charset=utf-8");
    CHECK(sd::content_type("archive.tar.zst") == "application/octet-stream");
    CHECK(sd::content_type("Makefile") == "application/octet-stream");
    CHECK(sd::content_type(".html") == "application/octet-stream"); // a dot file, no extension
    CHECK(sd::content_type("dir.html/file") == "application/octet-stream");
}
