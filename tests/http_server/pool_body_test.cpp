// The pooled client (http::client): redirects, response framings (chunked, close-delimited,
// HEAD, 204), and bodies streamed both ways.
#include "pool_common.hpp"

using namespace std::chrono_literals;
namespace http = sluice::http;

namespace {

using pool_test::into;
using pool_test::outcome;

std::string base(const test::http_fixture& f) { return "http://127.0.0.1:" + std::to_string(f.port); }

outcome run(test::bounded_loop& loop, http::client& c, http::client_request r) {
    outcome o;
    c.request(std::move(r), into(o));
    REQUIRE(loop.run_until([&] { return o.calls == 1; }));
    return o;
}

// The method, the body's size and the credentials a request arrived with.
std::string describe(const http::request_view& req) {
    return std::string(req.method()) + " " + std::string(req.path()) + " body=" +
           std::to_string(req.body().size()) + " auth=" + std::string(req.get("Authorization")) +
           " cookie=" + std::string(req.get("Cookie"));
}

} // namespace

TEST_CASE("pool redirects: relative, 303 and 307, cross-origin credentials, the limit") {
    test::http_fixture other;
    other.server.on_request([](const http::request_view& req, http::response& res) { res.end(describe(req)); });
    other.listen();
    test::bounded_loop& loop = other.loop;
    http::server here(loop);
    std::string other_base = base(other);
    here.on_request([&](const http::request_view& req, http::response& res) {
        std::string p(req.path());
        if (p == "/dir/rel") return (void)res.status(302).header("Location", "target?q=1").end("moved");
        if (p == "/abs") return (void)res.status(301).header("Location", "/dir/target").end();
        if (p == "/see") return (void)res.status(303).header("Location", "/dir/target").end();
        if (p == "/temp") return (void)res.status(307).header("Location", "/dir/target").end();
        if (p == "/away") return (void)res.status(302).header("Location", other_base + "/there").end();
        if (p.rfind("/hop/", 0) == 0) { // /hop/n redirects to /hop/n-1; /hop/0 answers
            int n = std::stoi(p.substr(5));
            if (n == 0) return res.end("landed");
            return (void)res.status(302).header("Location", "/hop/" + std::to_string(n - 1)).end();
        }
        res.end(describe(req) + " q=" + std::string(req.query()));
    });
    REQUIRE_FALSE(here.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    std::string here_base = "http://127.0.0.1:" + std::to_string(here.local_endpoint(ec).port());
    http::client c(loop);

    http::client_request r;
    r.url = here_base + "/dir/rel";
    auto o = run(loop, c, std::move(r));
    REQUIRE_FALSE(o.ec);
    CHECK(o.res.status == 200);
    CHECK(o.res.body == "GET /dir/target body=0 auth= cookie= q=q=1");

    r = {};
    r.url = here_base + "/abs";
    o = run(loop, c, std::move(r));
    CHECK(o.res.body == "GET /dir/target body=0 auth= cookie= q=");

    // 303: a POST becomes a GET without body; 307 keeps both.
    r = {};
    r.method = "POST";
    r.url = here_base + "/see";
    r.body = "12345";
    r.headers = {{"Content-Type", "text/plain"}};
    o = run(loop, c, std::move(r));
    CHECK(o.res.body == "GET /dir/target body=0 auth= cookie= q=");
    r = {};
    r.method = "POST";
    r.url = here_base + "/temp";
    r.body = "12345";
    o = run(loop, c, std::move(r));
    CHECK(o.res.body == "POST /dir/target body=5 auth= cookie= q=");

    // Credentials stay with their origin.
    r = {};
    r.url = here_base + "/abs";
    r.headers = {{"Authorization", "Bearer t"}, {"Cookie", "a=b"}};
    o = run(loop, c, std::move(r));
    CHECK(o.res.body == "GET /dir/target body=0 auth=Bearer t cookie=a=b q=");
    r = {};
    r.url = here_base + "/away";
    r.headers = {{"Authorization", "Bearer t"}, {"Cookie", "a=b"}, {"X-Keep", "1"}};
    o = run(loop, c, std::move(r));
    REQUIRE_FALSE(o.ec);
    CHECK(o.res.body == "GET /there body=0 auth= cookie=");

    // Five redirects are followed; the sixth is an error.
    r = {};
    r.url = here_base + "/hop/5";
    o = run(loop, c, std::move(r));
    CHECK_FALSE(o.ec);
    CHECK(o.res.body == "landed");
    r = {};
    r.url = here_base + "/hop/6";
    o = run(loop, c, std::move(r));
    CHECK(o.ec == http::error::too_many_redirects);
    http::client_settings none;
    none.max_redirects = 0; // not one is followed: the first is the error
    http::client c0(loop, none);
    r = {};
    r.url = here_base + "/hop/1";
    o = run(loop, c0, std::move(r));
    CHECK(o.ec == http::error::too_many_redirects);
}

TEST_CASE("pool bodies: chunked and streamed responses, HEAD, 204, close-delimited") {
    test::http_fixture f;
    f.server.on_request([](const http::request_view& req, http::response& res) {
        std::string p(req.path());
        if (p == "/chunked") {
            for (int i = 0; i < 100; ++i) res.write(std::string(1000, static_cast<char>('a' + i % 26)));
            return res.end();
        }
        if (p == "/empty") return (void)res.status(204).end();
        res.end("twelve bytes");
    });
    f.listen();
    http::client c(f.loop);

    http::client_request r;
    r.url = base(f) + "/chunked";
    auto o = run(f.loop, c, std::move(r));
    REQUIRE_FALSE(o.ec);
    CHECK(o.res.get("Transfer-Encoding") == "chunked");
    REQUIRE(o.res.body.size() == 100000);
    CHECK(o.res.body[99000] == static_cast<char>('a' + 99 % 26));

    // Delivered piece by piece, nothing collected.
    std::string streamed;
    r = {};
    r.url = base(f) + "/chunked";
    r.on_body = [&](std::string_view piece) { streamed.append(piece); };
    o = run(f.loop, c, std::move(r));
    REQUIRE_FALSE(o.ec);
    CHECK(o.res.body.empty());
    CHECK(streamed.size() == 100000);

    r = {};
    r.method = "HEAD";
    r.url = base(f) + "/x";
    o = run(f.loop, c, std::move(r));
    REQUIRE_FALSE(o.ec);
    CHECK(o.res.get("Content-Length") == "12");
    CHECK(o.res.body.empty());
    r = {};
    r.url = base(f) + "/empty";
    o = run(f.loop, c, std::move(r));
    CHECK(o.res.status == 204);
    // After HEAD and 204 the connection still carries the next request.
    r = {};
    r.url = base(f) + "/x";
    o = run(f.loop, c, std::move(r));
    CHECK(o.res.body == "twelve bytes");
    CHECK(c.connections_opened() == 1);

    // A response too large to collect.
    http::client_settings small;
    small.max_response = 50000;
    http::client cs(f.loop, small);
    r = {};
    r.url = base(f) + "/chunked";
    o = run(f.loop, cs, std::move(r));
    CHECK(o.ec == http::error::body_too_large);

    // Close-delimited (no length, no chunking) from a raw peer.
    sluice::tcp_listener raw(f.loop);
    std::uint16_t port = test::listen_loopback(raw);
    std::vector<std::unique_ptr<sluice::tcp_stream>> peers;
    raw.accept_each([&](std::error_code ec, sluice::tcp_stream st) {
        if (ec) return;
        peers.push_back(std::make_unique<sluice::tcp_stream>(std::move(st)));
        sluice::tcp_stream* s = peers.back().get();
        s->read_start([s](std::error_code e, std::string_view) {
            if (e) return;
            s->write(std::string_view("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"));
            s->close_after_flush();
        });
    });
    r = {};
    r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
    o = run(f.loop, c, std::move(r));
    REQUIRE_FALSE(o.ec);
    CHECK(o.res.body == "until the end");
}

TEST_CASE("pool bodies: uploads pulled from a producer, with and without a known length") {
    test::http_fixture f;
    f.server.on_request_stream([](const http::request_view& req, http::body_reader& body, http::response& res) {
        struct counter : std::enable_shared_from_this<counter> {
            http::body_reader body;
            http::response res;
            std::uint64_t bytes = 0, bad = 0;
            std::string framing;
            void next() {
                body.read([self = shared_from_this()](std::error_code ec, std::string_view piece) {
                    if (ec == sluice::error::eof)
                        return self->res.end(self->framing + " " + std::to_string(self->bytes) + " bad=" +
                                             std::to_string(self->bad));
                    if (ec) return;
                    for (char ch : piece)
                        if (static_cast<unsigned char>(ch) != (self->bytes++ % 251)) ++self->bad;
                    self->next();
                });
            }
        };
        auto k = std::make_shared<counter>();
        k->framing = req.msg().chunked() ? "chunked" : "length";
        k->body = std::move(body);
        k->res = std::move(res);
        k->next();
    });
    f.listen();
    http::client c(f.loop);
    std::uint64_t total = 20 * 1024 * 1024 + 17; // not const: captured by value below
    for (bool known : {true, false}) {
        auto sent = std::make_shared<std::uint64_t>(0);
        http::client_request r;
        r.method = "POST";
        r.url = base(f) + "/up";
        if (known) r.content_length = static_cast<std::int64_t>(total);
        r.producer = [sent, total](std::string& piece) {
            std::uint64_t n = std::min<std::uint64_t>(100000, total - *sent);
            for (std::uint64_t i = 0; i < n; ++i) piece.push_back(static_cast<char>((*sent + i) % 251));
            *sent += n;
            return *sent < total;
        };
        auto o = run(f.loop, c, std::move(r));
        REQUIRE_FALSE(o.ec);
        CHECK(o.res.body == std::string(known ? "length " : "chunked ") + std::to_string(total) + " bad=0");
    }
    CHECK(c.connections_opened() == 1);
}
