// HTTP/1.1 parser tests. Every table case is fed whole, split in two at every
// byte, one byte at a time, and from the very end of a page followed by a
// PROT_NONE page (PAGE_NOACCESS on Windows), and must give the same outcome each time.
#include <ostream>

#include <doctest/doctest.h>

#include <sluice/http.hpp>

#include "../portable.hpp"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace http = sluice::http;

namespace {

struct msg_snapshot {
    std::string method, target, reason;
    unsigned status = 0, minor = 0;
    std::vector<std::pair<std::string, std::string>> headers, trailers;
    std::string body;
    bool keep_alive = false, chunked = false, upgrade = false, expect = false;
    std::uint64_t content_length = 0;
};

struct outcome {
    std::vector<msg_snapshot> msgs;
    std::error_code ec;
    bool upgraded = false;
    std::string rest; // bytes after an upgrade
    bool clean_eof = false;

    bool operator==(const outcome& o) const {
        if (ec != o.ec || upgraded != o.upgraded || rest != o.rest || msgs.size() != o.msgs.size())
            return false;
        for (std::size_t i = 0; i < msgs.size(); ++i) {
            const auto &a = msgs[i], &b = o.msgs[i];
            if (a.method != b.method || a.target != b.target || a.reason != b.reason ||
                a.status != b.status || a.minor != b.minor || a.headers != b.headers ||
                a.trailers != b.trailers || a.body != b.body || a.keep_alive != b.keep_alive ||
                a.chunked != b.chunked || a.upgrade != b.upgrade || a.expect != b.expect)
                return false;
        }
        return true;
    }
};

struct options {
    http::parser::kind_t kind = http::parser::request;
    http::limits lim{};
    http::verb response_to = http::verb::get;
};

// Presents bytes [0, avail) of `base` as they "arrive" at the points in `arrivals`.
// With `copy`, every feed sees a fresh exact-size heap copy, so ASan catches any
// read past the bytes handed in.
outcome drive(const char* base, std::size_t total, const std::vector<std::size_t>& arrivals,
              bool copy, const options& o) {
    outcome out;
    http::message_storage<128> m;
    http::parser p(o.kind, m, o.lim);
    p.response_to(o.response_to);
    std::size_t off = 0, ai = 0, avail = arrivals.empty() ? total : arrivals[0];
    msg_snapshot cur;
    for (int guard = 0; guard < 1000000; ++guard) {
        http::result r;
        std::unique_ptr<char[]> tmp;
        std::size_t n = avail - off;
        if (copy) {
            tmp.reset(new char[n ? n : 1]);
            std::memcpy(tmp.get(), base + off, n);
            r = p.feed(tmp.get(), n);
        } else {
            r = p.feed(base + off, n);
        }
        REQUIRE(r.consumed <= n);
        off += r.consumed;
        if (r.ev == http::event::need_more) {
            if (avail == total)
                r = p.finish(base + off, total - off);
            else {
                avail = ++ai < arrivals.size() ? arrivals[ai] : total;
                continue;
            }
            if (r.ev == http::event::need_more) {
                out.clean_eof = true;
                break;
            }
        }
        if (r.ev == http::event::head) {
            cur = msg_snapshot();
            const http::message& h = p.msg();
            cur.method = std::string(h.method);
            cur.target = std::string(h.target);
            cur.reason = std::string(h.reason);
            cur.status = h.status;
            cur.minor = h.version_minor;
            for (const auto& f : h) cur.headers.emplace_back(f.name, f.value);
            cur.keep_alive = h.keep_alive();
            cur.chunked = h.chunked();
            cur.upgrade = h.upgrade();
            cur.expect = h.expect_continue();
            cur.content_length = h.content_length;
        } else if (r.ev == http::event::body) {
            REQUIRE(!r.data.empty());
            cur.body.append(r.data.data(), r.data.size());
        } else if (r.ev == http::event::done) {
            const http::message& h = p.msg();
            for (std::uint32_t i = 0; i < h.num_trailers; ++i)
                cur.trailers.emplace_back(h.trailers()[i].name, h.trailers()[i].value);
            out.msgs.push_back(cur);
            p.response_to(o.response_to);
        } else if (r.ev == http::event::upgrade) {
            out.upgraded = true;
            out.rest.assign(base + off, total - off);
            break;
        } else if (r.ev == http::event::error) {
            out.ec = p.error();
            CHECK(out.ec);
            break;
        }
    }
    return out;
}

struct guarded {
    char* region = nullptr;
    std::size_t size = 0;
    char* data = nullptr;
    guarded(const std::string& s) {
        std::size_t page = test::portable::page_size();
        std::size_t pages = (s.size() + page - 1) / page + 1;
        size = (pages + 1) * page;
        region = test::portable::map_pages(size);
        REQUIRE(region != nullptr);
        REQUIRE(test::portable::protect_no_access(region + pages * page, page));
        data = region + pages * page - s.size();
        std::memcpy(data, s.data(), s.size());
    }
    ~guarded() { test::portable::unmap_pages(region, size); }
};

// Runs all feeding modes, checks they agree, returns the one-shot outcome.
outcome run_all(const std::string& in, const options& o = options()) {
    outcome whole = drive(in.data(), in.size(), {}, true, o);
    for (std::size_t k = 1; k < in.size(); ++k) {
        outcome split = drive(in.data(), in.size(), {k}, true, o);
        INFO("split at " << k);
        REQUIRE(split == whole);
    }
    std::vector<std::size_t> bytes;
    for (std::size_t k = 1; k <= in.size(); ++k) bytes.push_back(k);
    outcome one = drive(in.data(), in.size(), bytes, true, o);
    INFO("byte at a time");
    REQUIRE(one == whole);
    guarded g(in);
    outcome pg = drive(g.data, in.size(), {}, false, o);
    REQUIRE(pg == whole);
    outcome pg1 = drive(g.data, in.size(), bytes, false, o);
    REQUIRE(pg1 == whole);
    return whole;
}

options resp(http::verb to = http::verb::get) {
    options o;
    o.kind = http::parser::response;
    o.response_to = to;
    return o;
}
options len(unsigned flags) {
    options o;
    o.lim.lenient = flags;
    return o;
}

const std::string k_browser_get =
    "GET /search?q=sluice&lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=abc123; theme=dark\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "\r\n";

} // namespace

TEST_CASE("http parser: sizeof stays small") { CHECK(sizeof(http::parser) <= 64); }

TEST_CASE("http parser: a browser GET, every field") {
    outcome r = run_all(k_browser_get);
    REQUIRE(!r.ec);
    REQUIRE(r.msgs.size() == 1);
    const msg_snapshot& m = r.msgs[0];
    CHECK(m.method == "GET");
    CHECK(m.target == "/search?q=sluice&lang=en");
    CHECK(m.minor == 1);
    REQUIRE(m.headers.size() == 9);
    CHECK(m.headers[0].first == "Host");
    CHECK(m.headers[0].second == "www.example.com");
    CHECK(m.headers[4].second == "gzip, deflate, br, zstd");
    CHECK(m.headers[8].first == "Sec-Fetch-Dest");
    CHECK(m.keep_alive);
    CHECK(!m.chunked);
    CHECK(m.body.empty());
}

namespace {
struct valid_case {
    const char* name;
    std::string raw;
    options opt;
    std::size_t messages;
    std::string body; // all bodies concatenated
    int keep_alive;   // of the last message
    bool upgraded;
    std::string rest;
};
} // namespace

TEST_CASE("http parser: valid messages") {
    const std::string H = "Host: a\r\n";
    const valid_case cases[] = {
        {"simple GET", "GET / HTTP/1.1\r\n" + H + "\r\n", {}, 1, "", 1, false, ""},
        {"POST content-length",
         "POST /p HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\nhello",
         {},
         1,
         "hello",
         1,
         false,
         ""},
        {"content-length 0",
         "POST / HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n",
         {},
         1,
         "",
         1,
         false,
         ""},
        {"chunked",
         "POST / HTTP/1.1\r\n" + H +
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
         {},
         1,
         "hello world",
         1,
         false,
         ""},
        {"chunked uppercase hex + extensions",
         "POST / HTTP/1.1\r\n" + H +
             "Transfer-Encoding: chunked\r\n\r\nA;name=val;q=\"x "
             "y\"\r\n0123456789\r\n0;last\r\n\r\n",
         {},
         1,
         "0123456789",
         1,
         false,
         ""},
        {"chunked with trailers",
         "POST / HTTP/1.1\r\n" + H +
             "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: "
             "1\r\nX-Other: 2\r\n\r\n",
         {},
         1,
         "abc",
         1,
         false,
         ""},
        {"gzip then chunked",
         "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
         {},
         1,
         "z",
         1,
         false,
         ""},
        {"TE over two fields",
         "POST / HTTP/1.1\r\n" + H +
             "Transfer-Encoding: gzip\r\nTransfer-Encoding: "
             "chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
         {},
         1,
         "z",
         1,
         false,
         ""},
        {"HTTP/1.0 without Host closes", "GET / HTTP/1.0\r\n\r\n", {}, 1, "", 0, false, ""},
        {"HTTP/1.0 keep-alive",
         "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
         {},
         1,
         "",
         1,
         false,
         ""},
        {"HTTP/1.1 close",
         "GET / HTTP/1.1\r\n" + H + "Connection: foo, close\r\n\r\n",
         {},
         1,
         "",
         0,
         false,
         ""},
        {"pipelined three",
         "GET /1 HTTP/1.1\r\n" + H + "\r\nPOST /2 HTTP/1.1\r\n" + H +
             "Content-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n",
         {},
         3,
         "hi",
         0,
         false,
         ""},
        {"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\n" + H + "\r\n", {}, 1, "", 1, false, ""},
        {"websocket upgrade",
         "GET /ws HTTP/1.1\r\n" + H +
             "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
         {},
         1,
         "",
         1,
         true,
         "\x81\x05hello"},
        {"upgrade header without Connection token",
         "GET / HTTP/1.1\r\n" + H + "Upgrade: websocket\r\n\r\nGET / HTTP/1.1\r\n" + H + "\r\n",
         {},
         2,
         "",
         1,
         false,
         ""},
        {"CONNECT tunnel",
         "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03",
         {},
         1,
         "",
         1,
         true,
         "\x16\x03"},
        {"OWS trimmed, empty value",
         "GET / HTTP/1.1\r\nHost: \t a \t \r\nX-Empty:\r\n\r\n",
         {},
         1,
         "",
         1,
         false,
         ""},
        {"obs-text value",
         "GET / HTTP/1.1\r\n" + H + "X-Name: caf\xc3\xa9\r\n\r\n",
         {},
         1,
         "",
         1,
         false,
         ""},
        {"absolute-form",
         "GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
         {},
         1,
         "",
         1,
         false,
         ""},
        {"asterisk-form", "OPTIONS * HTTP/1.1\r\n" + H + "\r\n", {}, 1, "", 1, false, ""},
        {"HTTP/1.2 is 1.1", "GET / HTTP/1.2\r\n" + H + "\r\n", {}, 1, "", 1, false, ""},
        {"lenient bare LF", "GET / HTTP/1.1\nHost: a\n\n", len(http::lenient::bare_lf), 1, "", 1,
         false, ""},
        {"lenient bare LF chunked",
         "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n",
         len(http::lenient::bare_lf), 1, "ok", 1, false, ""},
        {"lenient obs-fold", "GET / HTTP/1.1\r\n" + H + "X-F: a\r\n  b\r\n\r\n",
         len(http::lenient::obs_fold), 1, "", 1, false, ""},
        {"lenient missing host", "GET / HTTP/1.1\r\n\r\n", len(http::lenient::missing_host), 1, "",
         1, false, ""},
        {"lenient CL+TE",
         "POST / HTTP/1.1\r\n" + H +
             "Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
         len(http::lenient::content_length_with_te), 1, "z", 1, false, ""},
        {"lenient identical CL",
         "POST / HTTP/1.1\r\n" + H + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nok",
         len(http::lenient::duplicate_content_length), 1, "ok", 1, false, ""},
        {"lenient target chars", "GET /a|b{c} HTTP/1.1\r\n" + H + "\r\n",
         len(http::lenient::target_chars), 1, "", 1, false, ""},
        // responses
        {"200 content-length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", resp(), 1, "abc",
         1, false, ""},
        {"200 read until close", "HTTP/1.1 200 OK\r\n\r\nall of it", resp(), 1, "all of it", 0,
         false, ""},
        {"1.0 response", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", resp(), 1, "x", 0, false,
         ""},
        {"204 no body",
         "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
         "1\r\n\r\nx",
         resp(), 2, "x", 1, false, ""},
        {"304 ignores CL", "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", resp(), 1, "",
         1, false, ""},
        {"100 then 200",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
         "2\r\n\r\nok",
         resp(), 2, "ok", 1, false, ""},
        {"HEAD response", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", resp(http::verb::head),
         1, "", 1, false, ""},
        {"101 switching",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
         "Upgrade\r\n\r\n\x82\x00",
         resp(), 1, "", 1, true, "\x82\x00"},
        {"2xx to CONNECT", "HTTP/1.1 200 Connection established\r\n\r\nraw",
         resp(http::verb::connect), 1, "", 1, true, "raw"},
        {"chunked response + trailer",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
         "chunked\r\n\r\n4\r\nWiki\r\n0\r\nExpires: x\r\n\r\n",
         resp(), 1, "Wiki", 1, false, ""},
        {"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", resp(), 1, "", 1, false, ""},
        {"no reason, no SP", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", resp(), 1, "", 1, false,
         ""},
        {"response TE not chunked reads to close",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", resp(), 1, "zzz", 0, false, ""},
    };
    for (const valid_case& c : cases) {
        INFO(std::string(c.name));
        outcome r = run_all(c.raw, c.opt);
        CHECK(!r.ec);
        CHECK(r.ec.message() == std::error_code().message());
        REQUIRE(r.msgs.size() == c.messages);
        std::string body;
        for (auto& m : r.msgs) body += m.body;
        CHECK(body == c.body);
        CHECK(r.msgs.back().keep_alive == (c.keep_alive == 1));
        CHECK(r.upgraded == c.upgraded);
        CHECK(r.rest == c.rest);
    }
}

TEST_CASE("http parser: details of valid messages") {
    SUBCASE("trailers are appended after the headers") {
        outcome r = run_all("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other:  2 \r\n\r\n");
        REQUIRE(r.msgs.size() == 1);
        REQUIRE(r.msgs[0].trailers.size() == 2);
        CHECK(r.msgs[0].trailers[1].first == "X-Other");
        CHECK(r.msgs[0].trailers[1].second == "2");
        CHECK(r.msgs[0].chunked);
    }
    SUBCASE("Expect: 100-continue") {
        outcome r = run_all("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: "
                            "1\r\n\r\nx");
        REQUIRE(r.msgs.size() == 1);
        CHECK(r.msgs[0].expect);
        outcome r10 = run_all("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
        CHECK(!r10.msgs.at(0).expect); // RFC 9110 10.1.1: ignore it from HTTP/1.0
    }
    SUBCASE("OWS is trimmed, empty values kept") {
        outcome r = run_all("GET / HTTP/1.1\r\nHost: \t a \t \r\nX-Empty:\r\n\r\n");
        REQUIRE(r.msgs.size() == 1);
        CHECK(r.msgs[0].headers[0].second == "a");
        CHECK(r.msgs[0].headers[1].second.empty());
    }
    SUBCASE("status and reason") {
        outcome r = run_all("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", resp());
        REQUIRE(r.msgs.size() == 1);
        CHECK(r.msgs[0].status == 404);
        CHECK(r.msgs[0].reason == "Not Found");
    }
    SUBCASE("lenient obs-fold value spans the fold") {
        outcome r = run_all("GET / HTTP/1.1\r\nHost: a\r\nX-F: a\r\n  b\r\n\r\n",
                            len(http::lenient::obs_fold));
        REQUIRE(r.msgs.size() == 1);
        CHECK(r.msgs[0].headers[1].second == "a\r\n  b");
    }
    SUBCASE("verb and version") {
        http::message_storage<8> m;
        http::parser p(http::parser::request, m);
        std::string s = "DELETE /x HTTP/1.0\r\n\r\n";
        CHECK(p.feed(s).ev == http::event::head);
        CHECK(m.verb == http::verb::delete_);
        CHECK(m.version_minor == 0);
        CHECK(!m.keep_alive());
        CHECK(p.feed("").ev == http::event::done);
    }
}

namespace {
struct invalid_case {
    const char* name;
    std::string raw;
    http::error err;
    options opt;
};
std::string many_headers(int n) {
    std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 1; i < n; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
    return s + "\r\n";
}
} // namespace

TEST_CASE("http parser: invalid messages, each with its own error") {
    using E = http::error;
    const std::string R = "GET / HTTP/1.1\r\nHost: a\r\n";
    const std::string P = "POST / HTTP/1.1\r\nHost: a\r\n";
    options small_body;
    small_body.lim.max_body = 4;
    options small_line;
    small_line.lim.max_request_line = 20;
    const invalid_case cases[] = {
        {"CL then TE",
         P + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         E::content_length_with_transfer_encoding,
         {}},
        {"TE then CL",
         P + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         E::content_length_with_transfer_encoding,
         {}},
        {"response CL+TE",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
         E::content_length_with_transfer_encoding, resp()},
        {"identical CL twice",
         P + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
         E::duplicate_content_length,
         {}},
        {"identical CL list",
         P + "Content-Length: 3, 3\r\n\r\nabc",
         E::duplicate_content_length,
         {}},
        {"differing CL",
         P + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         E::conflicting_content_length,
         {}},
        {"differing CL list",
         P + "Content-Length: 3,4\r\n\r\nabcd",
         E::conflicting_content_length,
         {}},
        {"CL not digits", P + "Content-Length: abc\r\n\r\n", E::bad_content_length, {}},
        {"CL signed", P + "Content-Length: +3\r\n\r\nabc", E::bad_content_length, {}},
        {"CL negative", P + "Content-Length: -1\r\n\r\n", E::bad_content_length, {}},
        {"CL empty", P + "Content-Length:\r\n\r\n", E::bad_content_length, {}},
        {"CL overflow",
         P + "Content-Length: 99999999999999999999999\r\n\r\n",
         E::bad_content_length,
         {}},
        {"CL inner space", P + "Content-Length: 1 2\r\n\r\n", E::bad_content_length, {}},
        {"TE gzip only",
         P + "Transfer-Encoding: gzip\r\n\r\n",
         E::transfer_encoding_not_chunked,
         {}},
        {"TE chunked not last",
         P + "Transfer-Encoding: chunked, gzip\r\n\r\n",
         E::transfer_encoding_not_chunked,
         {}},
        {"TE chunked twice",
         P + "Transfer-Encoding: chunked, chunked\r\n\r\n",
         E::bad_transfer_encoding,
         {}},
        {"TE chunked twice over fields",
         P + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         E::bad_transfer_encoding,
         {}},
        {"TE unknown coding",
         P + "Transfer-Encoding: foo, chunked\r\n\r\n",
         E::unknown_transfer_coding,
         {}},
        {"TE empty", P + "Transfer-Encoding: \r\n\r\n", E::bad_transfer_encoding, {}},
        {"TE in HTTP/1.0",
         "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         E::transfer_encoding_http10,
         {}},
        {"obs-fold", R + "X-F: a\r\n b\r\n\r\n", E::obs_fold, {}},
        {"obs-fold tab", R + "X-F: a\r\n\tb\r\n\r\n", E::obs_fold, {}},
        {"space before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", E::obs_fold,
         len(http::lenient::obs_fold)},
        {"SP before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", E::whitespace_before_colon, {}},
        {"HTAB before colon", R + "Content-Length\t: 0\r\n\r\n", E::whitespace_before_colon, {}},
        {"bare CR in value", R + "X: a\rb\r\n\r\n", E::bare_cr, {}},
        {"bare CR line end", R + "X: a\r\r\n\r\n", E::bare_cr, {}},
        {"bare CR in request line", "GET / HTTP/1.1\rX\r\n\r\n", E::bare_cr, {}},
        {"bare CR as blank line", R + "\rX", E::bare_cr, {}},
        {"bare LF in header", R + "X: a\n\r\n", E::bare_lf, {}},
        {"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", E::bare_lf, {}},
        {"bare LF blank line", R + "\n", E::bare_lf, {}},
        {"leading bare LF", "\nGET / HTTP/1.1\r\n\r\n", E::bare_lf, {}},
        {"NUL in value", R + std::string("X: a\0b\r\n\r\n", 10), E::nul_byte, {}},
        {"NUL in name", R + std::string("X\0: a\r\n\r\n", 9), E::nul_byte, {}},
        {"NUL in target", std::string("GET /\0 HTTP/1.1\r\n\r\n", 20), E::nul_byte, {}},
        {"CTL in value",
         R + "X: a\x01"
             "b\r\n\r\n",
         E::bad_header_value,
         {}},
        {"DEL in value", R + "X: a\x7f\r\n\r\n", E::bad_header_value, {}},
        {"bad name char", R + "X@Y: 1\r\n\r\n", E::bad_header_name, {}},
        {"name with paren", R + "X(: 1\r\n\r\n", E::bad_header_name, {}},
        {"empty name", R + ": x\r\n\r\n", E::bad_header_name, {}},
        {"line without colon", R + "Hello\r\n\r\n", E::bad_header_name, {}},
        {"non-ASCII name", R + "X\xc3\xa9: 1\r\n\r\n", E::bad_header_name, {}},
        {"missing Host", "GET / HTTP/1.1\r\n\r\n", E::missing_host, {}},
        {"duplicate Host", R + "Host: b\r\n\r\n", E::duplicate_host, {}},
        {"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", E::bad_host, {}},
        {"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", E::bad_host, {}},
        {"bad method char", "G(T / HTTP/1.1\r\n\r\n", E::bad_method, {}},
        {"leading space", " GET / HTTP/1.1\r\n\r\n", E::bad_method, {}},
        {"double space", "GET  / HTTP/1.1\r\n\r\n", E::bad_target, {}},
        {"quote in target", "GET /\"x HTTP/1.1\r\n\r\n", E::bad_target, {}},
        {"brace in target", "GET /{x} HTTP/1.1\r\n\r\n", E::bad_target, {}},
        {"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", E::bad_target, {}},
        {"fragment in target", "GET /a#b HTTP/1.1\r\n\r\n", E::bad_target, {}},
        {"lowercase version", "GET / http/1.1\r\n\r\n", E::bad_version, {}},
        {"version junk", "GET / HTTP/1.1x\r\n\r\n", E::bad_version, {}},
        {"version two digits", "GET / HTTP/11.1\r\n\r\n", E::bad_version, {}},
        {"trailing space", "GET / HTTP/1.1 \r\n\r\n", E::bad_version, {}},
        {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", E::version_not_supported, {}},
        {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", E::version_not_supported, {}},
        {"missing version", "GET /\r\n\r\n", E::bad_target, {}},
        {"short version", "GET / HTTP\r\n\r\n", E::bad_version, {}},
        {"very short version", "GET / H\r\n\r\n", E::bad_version, {}},
        {"short status", "HTTP/1.1 20\r\n\r\n", E::bad_status_line, resp()},
        {"short status line", "HTTP/1.1\r\n\r\n", E::bad_status_line, resp()},
        {"chunk size not hex",
         P + "Transfer-Encoding: chunked\r\n\r\nZ\r\n",
         E::bad_chunk_size,
         {}},
        {"chunk size negative",
         P + "Transfer-Encoding: chunked\r\n\r\n-1\r\n",
         E::bad_chunk_size,
         {}},
        {"chunk size 0x prefix",
         P + "Transfer-Encoding: chunked\r\n\r\n0x5\r\n",
         E::bad_chunk_size,
         {}},
        {"chunk size 17 digits",
         P + "Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n",
         E::chunk_size_overflow,
         {}},
        {"chunk size overflows",
         P + "Transfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n",
         E::chunk_size_overflow,
         {}},
        {"chunk ext too long",
         P + "Transfer-Encoding: chunked\r\n\r\n1;" + std::string(1100, 'e') + "\r\nx\r\n",
         E::chunk_extension_too_long,
         {}},
        {"chunk ext CTL",
         P + "Transfer-Encoding: chunked\r\n\r\n1;a\x01\r\nx\r\n",
         E::bad_chunk_extension,
         {}},
        {"chunk ext NUL",
         P + "Transfer-Encoding: chunked\r\n\r\n1;" + std::string(1, '\0'),
         E::nul_byte,
         {}},
        {"chunk data without CRLF",
         P + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
         E::bad_chunk_end,
         {}},
        {"chunk data CR without LF",
         P + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\rX",
         E::bad_chunk_end,
         {}},
        {"chunk size bare LF", P + "Transfer-Encoding: chunked\r\n\r\n1\nx\r\n", E::bare_lf, {}},
        {"chunk size bare CR", P + "Transfer-Encoding: chunked\r\n\r\n1\rx", E::bare_cr, {}},
        {"trailer obs-fold",
         P + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n",
         E::obs_fold,
         {}},
        {"request line too long",
         "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n",
         E::request_line_too_long,
         {}},
        {"bad char past a small request-line limit", // the limit is met first
         "GET /" + std::string(30, 'a') + "\" HTTP/1.1\r\nHost: a\r\n\r\n",
         E::request_line_too_long, small_line},
        {"bad char within a small request-line limit",
         "GET /" + std::string(15, 'a') + "\" HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target,
         small_line},
        {"request line over a small limit",
         "GET /" + std::string(30, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", E::request_line_too_long,
         small_line},
        {"head too large", R + "X: " + std::string(9000, 'v') + "\r\n\r\n", E::head_too_large, {}},
        {"too many headers", many_headers(65), E::too_many_headers, {}},
        {"early error in an oversized head",
         R + "Bad Name: x\r\nX: " + std::string(9000, 'v'),
         E::whitespace_before_colon,
         {}},
        {"early error in an overlong request line",
         "GET /" + std::string(9000, '"'),
         E::bad_target,
         {}},
        {"response head too large", "HTTP/1.1 200 OK\r\nX: " + std::string(9000, 'v') + "\r\n\r\n",
         E::head_too_large, resp()},
        {"CL over body limit", P + "Content-Length: 5\r\n\r\nhello", E::body_too_large, small_body},
        {"chunked over body limit",
         P + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
         E::body_too_large, small_body},
        {"EOF in head", R + "X: 1\r\n", E::unexpected_eof, {}},
        {"EOF in body", P + "Content-Length: 5\r\n\r\nhel", E::unexpected_eof, {}},
        {"EOF in chunked body",
         P + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
         E::unexpected_eof,
         {}},
        {"EOF in trailers",
         P + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n",
         E::unexpected_eof,
         {}},
        {"status 4 digits", "HTTP/1.1 2000 OK\r\n\r\n", E::bad_status_line, resp()},
        {"status 2 digits", "HTTP/1.1 20 OK\r\n\r\n", E::bad_status_line, resp()},
        {"status below 100", "HTTP/1.1 099 Hm\r\n\r\n", E::bad_status_line, resp()},
        {"status letters", "HTTP/1.1 2x0 OK\r\n\r\n", E::bad_status_line, resp()},
        {"CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", E::bad_reason, resp()},
        {"response version", "HTTP/2 200 OK\r\n\r\n", E::bad_status_line, resp()},
        {"response HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", E::version_not_supported, resp()},
        {"response bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", E::bare_lf, resp()},
        {"pipelined second bad",
         R + "\r\nGET / HTTP/1.1\r\nHost : a\r\n\r\n",
         E::whitespace_before_colon,
         {}},
    };
    for (const invalid_case& c : cases) {
        INFO(std::string(c.name));
        outcome r = run_all(c.raw, c.opt);
        CHECK(r.ec == http::make_error_code(c.err));
        CHECK(r.ec.message() == http::make_error_code(c.err).message());
    }
}

TEST_CASE("http parser: error codes map to statuses and messages") {
    using E = http::error;
    CHECK(http::suggested_status(E::request_line_too_long) == 414);
    CHECK(http::suggested_status(E::head_too_large) == 431);
    CHECK(http::suggested_status(E::too_many_headers) == 431);
    CHECK(http::suggested_status(E::body_too_large) == 413);
    CHECK(http::suggested_status(E::version_not_supported) == 505);
    CHECK(http::suggested_status(E::unknown_transfer_coding) == 501);
    CHECK(http::suggested_status(E::content_length_with_transfer_encoding) == 400);
    CHECK(http::suggested_status(std::error_code(E::obs_fold)) == 400);
    CHECK(std::string(http::http_category().name()) == "sluice.http");
    std::error_code ec = E::bare_cr;
    CHECK(ec.message() == "CR not followed by LF");
    // every code has its own message
    std::vector<std::string> seen;
    for (int i = 1; i <= static_cast<int>(E::connect_with_body); ++i) {
        std::string m = http::http_category().message(i);
        CHECK(m != "unknown sluice.http error");
        for (auto& s : seen) CHECK(s != m);
        seen.push_back(m);
    }
}

TEST_CASE("http parser: keep-alive rules") {
    struct kc {
        const char* raw;
        bool ka;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: closer\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closer\r\n\r\n", true},
    };
    for (auto& c : cases) {
        INFO(c.raw);
        outcome r = run_all(c.raw);
        REQUIRE(r.msgs.size() == 1);
        CHECK(r.msgs[0].keep_alive == c.ka);
    }
}

TEST_CASE("http parser: pipelining resets between messages") {
    std::string all;
    for (int i = 0; i < 5; ++i)
        all += "POST /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n" +
               std::to_string(i);
    all += "GET /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    outcome r = run_all(all);
    REQUIRE(r.msgs.size() == 6);
    for (int i = 0; i < 5; ++i) {
        CHECK(r.msgs[i].target == "/" + std::to_string(i));
        CHECK(r.msgs[i].body == std::to_string(i));
    }
    CHECK(r.msgs[5].chunked);
    CHECK(r.clean_eof);
}

TEST_CASE("http parser: head views point into the caller's buffer") {
    http::message_storage<16> m;
    http::parser p(http::parser::request, m);
    std::string s = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    http::result r = p.feed(s);
    REQUIRE(r.ev == http::event::head);
    CHECK(r.consumed == s.size());
    CHECK(m.target.data() == s.data() + 4);
    CHECK(m.get("HOST") == "h");
    CHECK(m.find("x-none") == nullptr);
    CHECK(m.headers[0].value.data() == s.data() + 23);
}

TEST_CASE("http parser: a small caller array limits the header count") {
    http::header hs[2];
    http::message m(hs, 2);
    http::parser p(http::parser::request, m);
    std::string s = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    CHECK(p.feed(s).ev == http::event::error);
    CHECK(p.error() == http::error::too_many_headers);
    CHECK(p.feed(s).ev == http::event::error); // errors are final
}

TEST_CASE("http parser: one byte at a time is linear (at most 2x one-shot)") {
    std::string big = "GET /x HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 60; ++i)
        big += "X-Header-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
    big += "\r\n";
    REQUIRE(big.size() < 8192);
    auto examined = [&](std::size_t step) {
        http::message_storage<64> m;
        http::parser p(http::parser::request, m);
        for (std::size_t avail = step;; avail += step) {
            if (avail > big.size()) avail = big.size();
            http::result r = p.feed(big.data(), avail);
            if (r.ev == http::event::head) break;
            REQUIRE(r.ev == http::event::need_more);
            REQUIRE(avail < big.size());
        }
        return p.bytes_examined();
    };
    std::uint64_t whole = examined(big.size());
    CHECK(whole == big.size());
    CHECK(examined(1) <= 2 * whole);
    CHECK(examined(7) <= 2 * whole);
    CHECK(examined(1000) <= 2 * whole);
}

TEST_CASE("http parser: upgrade leaves the rest to the caller") {
    http::message_storage<16> m;
    http::parser p(http::parser::request, m);
    std::string s = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: "
                    "upgrade\r\n\r\nFRAMES";
    http::result r = p.feed(s);
    REQUIRE(r.ev == http::event::head);
    CHECK(m.upgrade());
    std::size_t off = r.consumed;
    r = p.feed(s.data() + off, s.size() - off);
    CHECK(r.ev == http::event::done);
    r = p.feed(s.data() + off, s.size() - off);
    CHECK(r.ev == http::event::upgrade);
    CHECK(r.consumed == 0);
    CHECK(s.substr(off) == "FRAMES");
    p.reset(); // declined: continue as HTTP
    std::string g = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(p.feed(g).ev == http::event::head);
}

TEST_CASE("http parser: finish on a clean boundary is not an error") {
    http::message_storage<16> m;
    http::parser p(http::parser::request, m);
    CHECK(p.finish().ev == http::event::need_more);
    CHECK(!p.error());
}

TEST_CASE("http parser: limits are exact") {
    SUBCASE("head bytes") {
        options o;
        o.lim.max_head = 100;
        std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
        head += std::string(100 - head.size() - 4, 'v') + "\r\n\r\n";
        REQUIRE(head.size() == 100);
        outcome ok = run_all(head + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", o);
        CHECK(!ok.ec);
        CHECK(ok.msgs.size() == 2);
        std::string over = head;
        over.insert(30, "v");
        CHECK(run_all(over, o).ec == http::error::head_too_large);
    }
    SUBCASE("request line") {
        options o;
        o.lim.max_request_line = 20;
        std::string line = "GET /" + std::string(6, 'a') + " HTTP/1.1"; // 20 bytes
        REQUIRE(line.size() == 20);
        CHECK(!run_all(line + "\r\nHost: a\r\n\r\n", o).ec);
        CHECK(run_all("GET /" + std::string(7, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", o).ec ==
              http::error::request_line_too_long);
    }
    SUBCASE("header count") {
        outcome ok = run_all(many_headers(64));
        CHECK(!ok.ec);
        CHECK(ok.msgs.at(0).headers.size() == 64);
        options o;
        o.lim.max_headers = 3;
        CHECK(run_all(many_headers(4), o).ec == http::error::too_many_headers);
        CHECK(!run_all(many_headers(3), o).ec);
    }
    SUBCASE("body size") {
        options o;
        o.lim.max_body = 5;
        CHECK(!run_all("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", o).ec);
        CHECK(!run_all("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
                       o)
                   .ec);
        CHECK(run_all("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "2\r\nhe\r\n4\r\nllo!\r\n0\r\n\r\n",
                      o)
                  .ec == http::error::body_too_large);
        options r = resp();
        r.lim.max_body = 5;
        CHECK(run_all("HTTP/1.1 200 OK\r\n\r\n123456", r).ec == http::error::body_too_large);
    }
    SUBCASE("chunk extension bytes") {
        options o;
        o.lim.max_chunk_extension = 8;
        std::string pre = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1";
        CHECK(!run_all(pre + ";1234567\r\nx\r\n0\r\n\r\n", o).ec);
        CHECK(run_all(pre + ";12345678\r\nx\r\n0\r\n\r\n", o).ec ==
              http::error::chunk_extension_too_long);
    }
}

// ---- wire: lengths above 4 GiB and past 2^64 ----
// A body length held in 32 bits, or parsed with a wrapping multiply, passes every small
// case above. The body limit is set one below and exactly at the announced length, which
// pins the parsed value to the byte without sending gigabytes.

namespace {
struct fed_request {
    http::event last;
    std::error_code ec;
    std::uint64_t content_length = 0;
    std::string body;
};

// Feeds `in` whole to a fresh request parser; stops at need_more, done, upgrade or error.
fed_request feed_request(const std::string& in, std::uint64_t max_body) {
    http::message_storage<16> m;
    http::limits l;
    l.max_body = max_body;
    http::parser p(http::parser::request, m, l);
    fed_request r{http::event::need_more, {}, 0, {}};
    std::size_t off = 0;
    for (;;) {
        http::result x = p.feed(in.data() + off, in.size() - off);
        off += x.consumed;
        if (x.ev == http::event::head) r.content_length = m.content_length;
        if (x.ev == http::event::body) r.body.append(x.data.data(), x.data.size());
        if (x.ev != http::event::head && x.ev != http::event::body) {
            r.last = x.ev;
            break;
        }
    }
    r.ec = p.error();
    return r;
}

const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
const std::string chunked_post = post + "Transfer-Encoding: chunked\r\n\r\n";
constexpr std::uint64_t above_4gib = 4294967301u; // 2^32 + 5
constexpr std::uint64_t all_ones = ~std::uint64_t{0};
} // namespace

TEST_CASE("wire: http Content-Length above 4 GiB is parsed exactly") {
    const std::string in = post + "Content-Length: 4294967301\r\n\r\nabc";
    fed_request r = feed_request(in, above_4gib);
    CHECK_FALSE(r.ec);
    CHECK(r.last == http::event::need_more); // 4294967298 more bytes to come
    CHECK(r.content_length == above_4gib);
    CHECK(r.body == "abc");
    CHECK(feed_request(in, above_4gib - 1).ec == http::error::body_too_large);

    r = feed_request(post + "Content-Length: 999999999999999999\r\n\r\n", all_ones);
    CHECK_FALSE(r.ec);
    CHECK(r.content_length == 999999999999999999u); // the longest accepted (18 digits)
}

TEST_CASE("wire: http Content-Length at or past 2^64 is refused, not wrapped") {
    for (const char* v : {"18446744073709551616", "18446744073709551621", "18446744073709551615",
                          "36893488147419103232", "9999999999999999999"}) {
        CAPTURE(v);
        fed_request r = feed_request(post + "Content-Length: " + v + "\r\n\r\n", all_ones);
        CHECK(r.last == http::event::error);
        CHECK(r.ec == http::error::bad_content_length);
    }
}

TEST_CASE("wire: http chunk size above 4 GiB is parsed exactly") {
    // After a 0x100000005-byte chunk header, everything that follows is chunk data, the
    // bytes that would end the message included: a size cut to 32 bits (5) would end it.
    const std::string in = chunked_post + "100000005\r\n" + "hello\r\n0\r\n\r\n";
    fed_request r = feed_request(in, above_4gib);
    CHECK_FALSE(r.ec);
    CHECK(r.last == http::event::need_more);
    CHECK(r.body == "hello\r\n0\r\n\r\n");
    CHECK(feed_request(in, above_4gib - 1).ec == http::error::body_too_large);

    r = feed_request(chunked_post + "FFFFFFFFFFFFFFFF\r\nabc", all_ones); // 2^64 - 1
    CHECK_FALSE(r.ec);
    CHECK(r.body == "abc");
    CHECK(feed_request(chunked_post + "FFFFFFFFFFFFFFFF\r\nabc", all_ones - 1).ec ==
          http::error::body_too_large);
}

TEST_CASE("wire: http chunk size at or past 2^64 is refused, not wrapped") {
    for (const char* v : {"10000000000000000", "10000000000000005", "FFFFFFFFFFFFFFFFF"}) {
        CAPTURE(v);
        fed_request r = feed_request(chunked_post + v + "\r\nabc", all_ones);
        CHECK(r.last == http::event::error);
        CHECK(r.ec == http::error::chunk_size_overflow);
    }
}

// ---- RFC 9112 7.1.1: the chunk-size line, exactly ----
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-name = token
//   chunk-ext-val  = token / quoted-string
// Whitespace is allowed only where BWS is: before a ";" and around "=".

namespace {
const std::string chunked_head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
} // namespace

TEST_CASE("http parser: chunk extensions that follow the grammar") {
    const char* lines[] = {
        "2;a",
        "2;a=b",
        "2;a=\"\"",
        "2;a=\"x y\"",
        "2;a=\"q\\\"x\"",
        "2;a=\"\\\\\"",
        "2 ;a",
        "2\t;a",
        "2; a",
        "2;a =b",
        "2;a= b",
        "2 \t; \t a \t = \t \"v\"",
        "2;a;b;c",
        "2;a=b ;c",
        "2;a=\"x\" ;c=\"y\"",
        "2;a=\"caf\xc3\xa9\"",
        "2;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
    };
    for (const char* l : lines) {
        INFO(std::string(l));
        outcome r = run_all(chunked_head + l + "\r\nok\r\n0\r\n\r\n");
        CHECK(!r.ec);
        REQUIRE(r.msgs.size() == 1);
        CHECK(r.msgs[0].body == "ok");
    }
    // the last chunk carries extensions the same way
    outcome r = run_all(chunked_head + "2\r\nok\r\n0;a=\"b\" ;c\r\n\r\n");
    CHECK(!r.ec);
    CHECK(r.msgs.size() == 1);
}

TEST_CASE("http parser: chunk-size lines off the grammar are rejected") {
    using E = http::error;
    struct bad_line {
        const char* line;
        E err;
    } cases[] = {
        {"2 erfrferferf", E::bad_chunk_size}, // junk after the size
        {"2 ", E::bad_chunk_size},            // BWS not followed by ";"
        {"2\t", E::bad_chunk_size},
        {"2 \t ", E::bad_chunk_size},
        {"2 x;a", E::bad_chunk_size},
        {"2;", E::bad_chunk_extension}, // empty extension name
        {"2; ", E::bad_chunk_extension},
        {"2;;a", E::bad_chunk_extension},
        {"2;a;", E::bad_chunk_extension},
        {"2;=b", E::bad_chunk_extension},
        {"2;a ", E::bad_chunk_extension}, // BWS not followed by ";" or "="
        {"2;a=b ", E::bad_chunk_extension},
        {"2;a=\"b\" ", E::bad_chunk_extension},
        {"2;a=", E::bad_chunk_extension}, // "=" without a value
        {"2;a= ", E::bad_chunk_extension},
        {"2;a==b", E::bad_chunk_extension},
        {"2;a=b=c", E::bad_chunk_extension},
        {"2;a b", E::bad_chunk_extension},
        {"2;a=b c", E::bad_chunk_extension},
        {"2;a@b", E::bad_chunk_extension}, // not a token
        {"2;a=b@c", E::bad_chunk_extension},
        {"2;a=(b)", E::bad_chunk_extension},
        {"2;a=\"b", E::bad_chunk_extension}, // unbalanced quotes
        {"2;a=\"b\\\"", E::bad_chunk_extension},
        {"2;a=b\"", E::bad_chunk_extension},
        {"2;a=\"b\"c", E::bad_chunk_extension},    // junk after a quoted-string
        {"2;\"a\"", E::bad_chunk_extension},       // a name is a token, never quoted
        {"2;a=\"b\x01\"", E::bad_chunk_extension}, // CTL in a quoted-string
        {"2;a=\"b\x7f\"", E::bad_chunk_extension},
        {"2;a=\"b\\\x01\"", E::bad_chunk_extension}, // CTL in a quoted-pair
        {"2;a\x7f", E::bad_chunk_extension},
    };
    for (const bad_line& c : cases) {
        INFO(std::string(c.line));
        CHECK(run_all(chunked_head + c.line + "\r\nok\r\n0\r\n\r\n").ec ==
              http::make_error_code(c.err));
    }
    // bare LF where CRLF is required, with and without extensions (lenient::bare_lf aside)
    CHECK(run_all(chunked_head + "2;a\nok\r\n0\r\n\r\n").ec == E::bare_lf);
    CHECK(run_all(chunked_head + "2;a=\"b\"\nok\r\n0\r\n\r\n").ec == E::bare_lf);
    CHECK(run_all(chunked_head + "2\r\nok\r\n0;a\n\r\n").ec == E::bare_lf);
    CHECK(run_all(chunked_head + "2;a\rok\r\n0\r\n\r\n").ec == E::bare_cr);
    // a CR inside a quoted-string never ends the line
    CHECK(run_all(chunked_head + "2;a=\"b\r\nok\r\n0\r\n\r\n").ec == E::bad_chunk_extension);
    // lenient bare LF still ends a well-formed extension
    CHECK(!run_all(chunked_head + "2;a=\"b\"\nok\r\n0\r\n\r\n", len(http::lenient::bare_lf)).ec);
}

TEST_CASE("http parser: chunk extension length limit") {
    options o;
    o.lim.max_chunk_extension = 8; // bytes after the size, BWS included
    CHECK(!run_all(chunked_head + "2;abcdefg\r\nok\r\n0\r\n\r\n", o).ec);
    CHECK(!run_all(chunked_head + "2 ;a=\"b\"\r\nok\r\n0\r\n\r\n", o).ec);
    CHECK(run_all(chunked_head + "2 ;a=\"bcd\"\r\nok\r\n0\r\n\r\n", o).ec ==
          http::error::chunk_extension_too_long);
    CHECK(run_all(chunked_head + "2;abcdefgh\r\nok\r\n0\r\n\r\n", o).ec ==
          http::error::chunk_extension_too_long);
    o.lim.max_chunk_extension = 0; // no extensions at all
    CHECK(!run_all(chunked_head + "2\r\nok\r\n0\r\n\r\n", o).ec);
    CHECK(run_all(chunked_head + "2;a\r\nok\r\n0\r\n\r\n", o).ec ==
          http::error::chunk_extension_too_long);
    // the default stays bounded
    CHECK(http::limits().max_chunk_extension == 1024);
    CHECK(run_all(chunked_head + "2;a=\"" + std::string(1100, 'x') + "\"\r\nok\r\n0\r\n\r\n").ec ==
          http::error::chunk_extension_too_long);
    // The widest limit does not wrap around: 65535 bytes pass, the 65536th fails (a
    // 16-bit count that wrapped to 0 would let any length through). Fed whole only: every
    // split of 64 KiB would take seconds.
    o.lim.max_chunk_extension = 65535;
    const std::string ext = ";a=" + std::string(65532, 'x');
    const std::string fits = chunked_head + "2" + ext + "\r\nok\r\n0\r\n\r\n";
    const std::string over = chunked_head + "2" + ext + "x\r\nok\r\n0\r\n\r\n";
    CHECK(!drive(fits.data(), fits.size(), {}, true, o).ec);
    CHECK(drive(over.data(), over.size(), {}, true, o).ec == http::error::chunk_extension_too_long);
}

// ---- RFC 9110 9.3.6: a CONNECT request has no content ----

TEST_CASE("http parser: CONNECT is never framed by Content-Length or Transfer-Encoding") {
    using E = http::error;
    const std::string C = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n";
    CHECK(run_all(C + "Content-Length: 5\r\n\r\nhello\x16\x03").ec == E::connect_with_body);
    CHECK(run_all(C + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").ec ==
          E::connect_with_body);
    CHECK(run_all(C + "Transfer-Encoding: gzip, chunked\r\n\r\n").ec == E::connect_with_body);
    CHECK(http::suggested_status(E::connect_with_body) == 400);
    // Content-Length: 0 announces no content: harmless, the tunnel starts after the head
    outcome r = run_all(C + "Content-Length: 0\r\n\r\n\x16\x03");
    CHECK(!r.ec);
    CHECK(r.upgraded);
    CHECK(r.rest == "\x16\x03");
    // the client side is unchanged: a 2xx to CONNECT ignores both (RFC 9110 9.3.6)
    outcome c =
        run_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nraw", resp(http::verb::connect));
    CHECK(!c.ec);
    CHECK(c.upgraded);
    CHECK(c.rest == "raw");
}

// ---- malformed heads are rejected as soon as the offending byte arrives ----

namespace {
struct early {
    std::size_t at = 0; // bytes available when the error came (0: it never did)
    std::error_code ec;
};

// Feeds in[0, k) for k = 1, 2, ... (exact-size heap copies, so ASan sees over-reads),
// keeping the unconsumed bytes, as a server reading one byte per read() would.
early bytewise(const std::string& in, const options& o) {
    http::message_storage<128> m;
    http::parser p(o.kind, m, o.lim);
    p.response_to(o.response_to);
    std::size_t off = 0;
    for (std::size_t avail = 1; avail <= in.size(); ++avail) {
        for (;;) {
            std::size_t n = avail - off;
            std::unique_ptr<char[]> tmp(new char[n ? n : 1]);
            std::memcpy(tmp.get(), in.data() + off, n);
            http::result r = p.feed(tmp.get(), n);
            REQUIRE(r.consumed <= n);
            off += r.consumed;
            if (r.ev == http::event::error) return {avail, p.error()};
            if (r.ev == http::event::need_more) break;
            if (r.ev == http::event::upgrade) return {};
            if (r.ev == http::event::done) p.response_to(o.response_to);
        }
    }
    return {};
}

// The same bytes handed over at once (no finish(): the peer has not closed).
early at_once(const std::string& in, const options& o) {
    http::message_storage<128> m;
    http::parser p(o.kind, m, o.lim);
    p.response_to(o.response_to);
    std::size_t off = 0;
    for (;;) {
        http::result r = p.feed(in.data() + off, in.size() - off);
        off += r.consumed;
        if (r.ev == http::event::error) return {in.size(), p.error()};
        if (r.ev == http::event::need_more || r.ev == http::event::upgrade) return {};
        if (r.ev == http::event::done) p.response_to(o.response_to);
    }
}

struct early_case {
    const char* name;
    std::string good; // a prefix some valid message starts with
    std::string rest; // rest[0] is the offending byte
    http::error err;
    options opt;
    std::size_t slack; // 1 where the grammar decides only one byte later
};
} // namespace

TEST_CASE("http parser: one byte at a time, a bad head fails at the offending byte") {
    using E = http::error;
    const std::string RL = "GET / HTTP/1.1\r\n";
    const std::string R = RL + "Host: a\r\n";
    const std::string T = R + "X-Pad: " + std::string(200, 'p') + "\r\n"; // a long head
    const std::string V = "\r\nHost: a\r\nX-Pad: " + std::string(200, 'p') + "\r\n\r\n";
    const std::string TAIL = "X-Pad: " + std::string(200, 'p') + "\r\n\r\n";
    const std::string S = "HTTP/1.1 200 OK\r\n";
    const std::string CH = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    const early_case cases[] = {
        // request line
        {"bad method char", "GE", "(T / HTTP/1.1" + V, E::bad_method, {}, 0},
        {"CTL in method", "GE", "\x01T / HTTP/1.1" + V, E::bad_method, {}, 0},
        {"NUL in method", "G", std::string(1, '\0') + "ET / HTTP/1.1" + V, E::nul_byte, {}, 0},
        {"leading space", "", " GET / HTTP/1.1" + V, E::bad_method, {}, 0},
        {"CR in method", "GET", "\r\nHost: a\r\n" + TAIL, E::bad_method, {}, 0},
        {"empty target", "GET ", " / HTTP/1.1" + V, E::bad_target, {}, 0},
        {"bad target char", "GET /a", "\"b HTTP/1.1" + V, E::bad_target, {}, 0},
        {"brace in target", "GET /a", "{b} HTTP/1.1" + V, E::bad_target, {}, 0},
        {"target ends at CR", "GET /abc", "\r\nHost: a\r\n" + TAIL, E::bad_target, {}, 0},
        {"NUL in target", "GET /a", std::string(1, '\0') + " HTTP/1.1" + V, E::nul_byte, {}, 0},
        {"lowercase version", "GET / ", "http/1.1" + V, E::bad_version, {}, 0},
        {"version slash", "GET / HTTP", "-1.1" + V, E::bad_version, {}, 0},
        {"version letter major", "GET / HTTP/", "x.1" + V, E::bad_version, {}, 0},
        {"version no dot", "GET / HTTP/1", ",1" + V, E::bad_version, {}, 0},
        {"version letter minor", "GET / HTTP/1.", "x" + V, E::bad_version, {}, 0},
        {"short version", "GET / HTTP/1", "\r\nHost: a\r\n" + TAIL, E::bad_version, {}, 0},
        {"HTTP/2.0", "GET / HTTP/2.", "0" + V, E::version_not_supported, {}, 0},
        {"version junk", "GET / HTTP/1.1", "x" + V, E::bad_version, {}, 0},
        {"trailing space", "GET / HTTP/1.1", " " + V, E::bad_version, {}, 0},
        {"request line bare CR", "GET / HTTP/1.1\r", "X" + V, E::bare_cr, {}, 0},
        {"request line bare LF", "GET / HTTP/1.1", "\nHost: a\r\n" + TAIL, E::bare_lf, {}, 0},
        // header fields
        {"space before colon", R + "Host", " : a\r\n" + TAIL, E::whitespace_before_colon, {}, 0},
        {"tab before colon", R + "X", "\t: a\r\n" + TAIL, E::whitespace_before_colon, {}, 0},
        {"bad header name char", R + "X", "@Y: 1\r\n" + TAIL, E::bad_header_name, {}, 0},
        {"non-ASCII name", R + "X", "\xc3\xa9: 1\r\n" + TAIL, E::bad_header_name, {}, 0},
        {"empty name", R, ": x\r\n" + TAIL, E::bad_header_name, {}, 0},
        {"line without colon", R + "Hello", "\r\n" + TAIL, E::bad_header_name, {}, 0},
        {"NUL in name", R + "X", std::string(1, '\0') + ": 1\r\n" + TAIL, E::nul_byte, {}, 0},
        {"CTL in value",
         R + "X: a",
         "\x01"
         "b\r\n" +
             TAIL,
         E::bad_header_value,
         {},
         0},
        {"DEL in value",
         R + "X: a",
         "\x7f"
         "b\r\n" +
             TAIL,
         E::bad_header_value,
         {},
         0},
        {"NUL in value", R + "X: a", std::string(1, '\0') + "b\r\n" + TAIL, E::nul_byte, {}, 0},
        {"bare CR in value", R + "X: a\r", "b\r\n" + TAIL, E::bare_cr, {}, 0},
        {"bare LF in value", R + "X: a", "\n" + TAIL, E::bare_lf, {}, 0},
        {"obs-fold", R + "X: a\r\n", " b\r\n" + TAIL, E::obs_fold, {}, 0},
        {"obs-fold tab", R + "X: a\r\n", "\tb\r\n" + TAIL, E::obs_fold, {}, 0},
        {"obs-fold before any field", RL, " Host: a\r\n" + TAIL, E::obs_fold,
         len(http::lenient::obs_fold), 0},
        {"late bad name in a long head",
         T + "X-Late",
         " : 1\r\n" + TAIL,
         E::whitespace_before_colon,
         {},
         0},
        {"late CTL in a long head", T + "X-Late: 1", "\x02\r\n" + TAIL, E::bad_header_value, {}, 0},
        {"bare CR as blank line", R + "\r", "X" + TAIL, E::bare_cr, {}, 0},
        {"bare LF as blank line", R, "\n", E::bare_lf, {}, 0},
        {"too many headers", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r", "\n" + TAIL,
         E::too_many_headers,
         [] {
             options o;
             o.lim.max_headers = 3;
             return o;
         }(),
         0},
        // lenient modes still stop at the first byte they do not allow
        {"lenient bare LF, bad name", "GET / HTTP/1.1\nHost: a\nX", "(: 1\n\n", E::bad_header_name,
         len(http::lenient::bare_lf), 0},
        {"lenient obs-fold, CTL in fold", R + "X: a\r\n b", "\x01\r\n" + TAIL, E::bad_header_value,
         len(http::lenient::obs_fold), 0},
        {"lenient target, CTL", "GET /a|", "\x01 HTTP/1.1" + V, E::bad_target,
         len(http::lenient::target_chars), 0},
        // status line (client side)
        {"response version", "HTT", "X/1.1 200 OK\r\n\r\n", E::bad_status_line, resp(), 0},
        {"response HTTP/2.0", "HTTP/2.", "0 200 OK\r\n\r\n", E::version_not_supported, resp(), 0},
        {"response no SP", "HTTP/1.1", "\r\n\r\n", E::bad_status_line, resp(), 0},
        {"status letter", "HTTP/1.1 2", "x0 OK\r\n\r\n", E::bad_status_line, resp(), 0},
        {"status below 100", "HTTP/1.1 ", "099 OK\r\n\r\n", E::bad_status_line, resp(), 0},
        {"status 4 digits", "HTTP/1.1 200", "0 OK\r\n\r\n", E::bad_status_line, resp(), 0},
        {"CTL in reason", "HTTP/1.1 200 O", "\x01K\r\n\r\n", E::bad_reason, resp(), 0},
        {"response bare LF", "HTTP/1.1 200 OK", "\nContent-Length: 0\r\n\r\n", E::bare_lf, resp(),
         0},
        {"response bad name", S + "Content", "(Length: 0\r\n\r\n", E::bad_header_name, resp(), 0},
        {"response obs-fold", S + "X: 1\r\n", " 2\r\n\r\n", E::obs_fold, resp(), 0},
        // trailer section
        {"trailer bad name", CH + "0\r\nX", "@: 1\r\n\r\n", E::bad_header_name, {}, 0},
        {"trailer obs-fold", CH + "0\r\nX: 1\r\n", " 2\r\n\r\n", E::obs_fold, {}, 0},
        {"trailer CTL", CH + "0\r\nX: 1", "\x01\r\n\r\n", E::bad_header_value, {}, 0},
        // chunk-size lines
        {"chunk junk", CH + "2 ", "erfrferferf\r\nok\r\n0\r\n\r\n", E::bad_chunk_size, {}, 0},
        {"chunk trailing BWS", CH + "2 ", "\r\nok\r\n0\r\n\r\n", E::bad_chunk_size, {}, 0},
        {"chunk empty ext name", CH + "2;", "\r\nok\r\n0\r\n\r\n", E::bad_chunk_extension, {}, 0},
        {"chunk unbalanced quote",
         CH + "2;a=\"b",
         "\r\nok\r\n0\r\n\r\n",
         E::bad_chunk_extension,
         {},
         0},
    };
    for (const early_case& c : cases) {
        INFO(std::string(c.name));
        const std::string in = c.good + c.rest;
        const std::size_t bad = c.good.size(); // index of the offending byte
        early whole = at_once(in, c.opt);
        CHECK(whole.ec == http::make_error_code(c.err));
        early one = bytewise(in, c.opt);
        CHECK(one.ec == whole.ec);
        CHECK(one.at >= bad + 1); // never before the offending byte
        CHECK(one.at <= bad + 1 + c.slack);
        // handed over at once, the bytes up to the offending one fail the same way too
        CHECK(at_once(in.substr(0, bad + 1), c.opt).ec == whole.ec);
        CHECK(!at_once(in.substr(0, bad), c.opt).ec);
    }
}

TEST_CASE("http parser: every one-byte corruption fails as early byte by byte as at once") {
    // For each corruption of a valid request or response: the first prefix that fails when
    // handed over at once is exactly where byte-at-a-time feeding fails, with the same code.
    const std::string reqs[] = {
        "GET /a?b=c HTTP/1.1\r\nHost: a\r\nX-Long: value, value\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2;e=\"v\"\r\nok\r\n0\r\nT: 1\r\n\r\n",
    };
    const std::string resps[] = {"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 0\r\n\r\n"};
    const char subs[] = {'\0', '\x01', ' ',    '\t', '\r', '\n', '"', ':', '(', ';',
                         '=',  '\\',   '\x7f', 'x',  '0',  '2',  '/', '.', 'H', '\xc3'};
    unsigned failed = 0, checked = 0;
    auto sweep = [&](const std::string& base, const options& o) {
        for (std::size_t i = 0; i < base.size(); ++i)
            for (char s : subs) {
                if (base[i] == s) continue;
                std::string in = base;
                in[i] = s;
                early whole = at_once(in, o);
                if (!whole.ec) continue;
                std::size_t first = 0; // shortest failing prefix
                for (std::size_t k = 1; k <= in.size() && !first; ++k)
                    if (at_once(in.substr(0, k), o).ec) first = k;
                early one = bytewise(in, o);
                ++checked;
                if (one.at != first || one.ec != whole.ec) {
                    ++failed;
                    INFO("corrupted at " << i << " to " << int(s) << ": " << in);
                    CHECK(one.at == first);
                    CHECK(one.ec == whole.ec);
                }
            }
    };
    for (const std::string& r : reqs) {
        sweep(r, options());
        sweep(r, len(http::lenient::bare_lf | http::lenient::obs_fold));
    }
    for (const std::string& r : resps) sweep(r, resp());
    CHECK(checked > 500);
    CHECK(failed == 0);
}

TEST_CASE("http parser: byte-at-a-time checking resumes, it does not rescan") {
    // A long head whose last field is bad: the bytes examined stay within 2x the head.
    std::string big = "GET /x HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 60; ++i)
        big += "X-Header-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
    big += "Bad Name: 1\r\n\r\n";
    http::message_storage<64> m;
    http::parser p(http::parser::request, m);
    std::size_t avail = 1;
    for (; avail <= big.size(); ++avail) {
        http::result r = p.feed(big.data(), avail);
        if (r.ev == http::event::error) break;
        REQUIRE(r.ev == http::event::need_more);
    }
    CHECK(p.error() == http::error::whitespace_before_colon);
    CHECK(avail == big.find("Bad ") + 4);
    CHECK(p.bytes_examined() <= 2 * avail);
}
