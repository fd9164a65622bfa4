// The router on a real server (loopback): middleware order and short-circuit, 404/405
// on the wire with Allow, HEAD via GET without a body, buffered and streamed routes,
// the body limit (413), mounted routers' middlewares, and response::content_length.
#include "../http_server/common.hpp"

#include <memory>
#include <string>
#include <vector>

namespace http = sluice::http;
using test::parse_responses;
using test::raw_client;

namespace {

// Sends `wire` on one connection and waits for `count` responses.
std::vector<test::parsed_response> exchange(test::http_fixture& f, const std::string& wire,
                                            std::size_t count,
                                            std::vector<http::verb> verbs = {}) {
    raw_client c(f.loop, f.port);
    c.send(wire);
    std::vector<test::parsed_response> got;
    f.loop.run_until([&] {
        got = parse_responses(c.in, verbs);
        return got.size() >= count;
    });
    return got;
}

} // namespace

TEST_CASE("router on a server: middleware order, short-circuit, errors through middleware") {
    test::http_fixture f;
    http::router r;
    std::vector<std::string> seen;
    r.use([&](http::route_request& req, http::response& res, http::route_next& next) {
        seen.push_back("log>" + std::string(req.path()));
        res.header("X-Outer", "1");
        next();
        seen.push_back("log<" + std::to_string(req.status()));
    });
    r.use([&](http::route_request& req, http::response& res, http::route_next& next) {
        seen.push_back("auth");
        if (req.path() == "/secret" && req.get("Authorization") != "Bearer ok") {
            res.status(401).end("no\n"); // short-circuit: next() not called
            return;
        }
        next();
    });
    REQUIRE_FALSE(r.get("/secret", [&](http::route_request&, http::response& res) {
        seen.push_back("handler");
        res.end("secret\n");
    }));
    REQUIRE_FALSE(r.get("/items/{id}", [&](http::route_request& req, http::response& res) {
        seen.push_back("handler");
        std::string q;
        req.query_param("q", q);
        res.end(std::string(req.param("id")) + "|" + q);
    }));
    REQUIRE_FALSE(r.post("/items", [](http::route_request&, http::response& res) { res.end(); }));
    r.attach(f.server);
    f.listen();

    auto got = exchange(f, test::get_request("/secret"), 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 401);
    CHECK(got[0].get("X-Outer") == "1");
    CHECK(seen == std::vector<std::string>{"log>/secret", "auth", "log<200"});

    seen.clear();
    got = exchange(f, test::get_request("/secret", "Authorization: Bearer ok\r\n"), 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 200);
    CHECK(got[0].body == "secret\n");
    CHECK(seen == std::vector<std::string>{"log>/secret", "auth", "handler", "log<200"});

    seen.clear();
    got = exchange(f, test::get_request("/items/a%2Fb?q=x+y") + test::get_request("/missing") +
                          test::get_request("/items") + test::get_request("/items/%zz"),
                   4);
    REQUIRE(got.size() == 4);
    CHECK(got[0].body == "a/b|x y");
    CHECK(got[1].status == 404);
    CHECK(got[1].get("X-Outer") == "1"); // the root's middlewares see 404s too
    CHECK(got[2].status == 405);
    CHECK(got[2].get("Allow") == "POST");
    CHECK(got[3].status == 400);
    CHECK(seen.size() == 4 * 3 + 1); // log>, auth, log< each; "handler" only for the first
    CHECK(seen.back() == "log<400");
}

TEST_CASE("router on a server: HEAD is answered by the GET route without a body") {
    test::http_fixture f;
    http::router r;
    REQUIRE_FALSE(r.get("/doc", [](http::route_request&, http::response& res) {
        res.header("Content-Type", "text/plain").end("twelve bytes");
    }));
    r.attach(f.server);
    f.listen();
    raw_client c(f.loop, f.port);
    c.send("HEAD /doc HTTP/1.1\r\nHost: t\r\n\r\n" + test::get_request("/doc"));
    std::vector<test::parsed_response> got;
    f.loop.run_until([&] {
        got = parse_responses(c.in, {http::verb::head, http::verb::get});
        return got.size() >= 2;
    });
    REQUIRE(got.size() == 2);
    CHECK(got[0].status == 200);
    CHECK(got[0].get("Content-Length") == "12");
    CHECK(got[0].body.empty());
    CHECK(got[1].body == "twelve bytes");
    // Exactly two heads and one body on the wire: nothing after the HEAD answer's head.
    CHECK(c.in.find("HTTP/1.1 200 OK") != c.in.rfind("HTTP/1.1 200 OK"));
    CHECK(c.in.find("twelve bytes") == c.in.rfind("twelve bytes"));
}

TEST_CASE("router on a server: buffered bodies, the limit (413), streamed routes") {
    test::http_fixture f;
    http::router_limits limits;
    limits.max_body = 1000;
    http::router r(limits);
    std::vector<std::string> seen;
    r.use([&](http::route_request& req, http::response&, http::route_next& next) {
        seen.push_back(std::to_string(req.body().size()));
        next();
    });
    REQUIRE_FALSE(r.post("/echo", [](http::route_request& req, http::response& res) {
        res.end("got " + std::string(req.body()) + " " + std::string(req.get("X-Tag")));
    }));
    REQUIRE_FALSE(r.stream("PUT", "/count", [](http::route_request&, http::body_reader& body,
                                               http::response& res) {
        struct counter : std::enable_shared_from_this<counter> {
            http::body_reader body;
            http::response res;
            std::size_t n = 0;
            void next() {
                body.read([self = shared_from_this()](std::error_code ec, std::string_view d) {
                    if (ec == sluice::error::eof) return self->res.end(std::to_string(self->n));
                    if (ec) return self->res.status(500).end();
                    self->n += d.size();
                    self->next();
                });
            }
        };
        auto c = std::make_shared<counter>();
        c->body = std::move(body);
        c->res = std::move(res);
        c->next();
    }));
    r.on_error([](http::route_request&, http::response& res, unsigned status) {
        res.status(status).end("{\"status\":" + std::to_string(status) + "}");
    });
    r.attach(f.server);
    f.listen();

    // The body arrives in two writes: the handler runs once it is whole.
    {
        raw_client c(f.loop, f.port);
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nX-Tag: t1\r\nContent-Length: 10\r\n\r\nhello");
        f.loop.run_for(std::chrono::milliseconds(30));
        CHECK(c.in.empty());
        c.send("world");
        std::vector<test::parsed_response> got;
        f.loop.run_until([&] { return (got = parse_responses(c.in)).size() == 1; });
        REQUIRE(got.size() == 1);
        CHECK(got[0].body == "got helloworld t1");
        CHECK(seen == std::vector<std::string>{"10"}); // middlewares ran with the body
    }

    const std::string big(200000, 'x');
    auto got = exchange(f, "PUT /count HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n" + big, 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].body == "200000"); // past max_body: stream routes are not buffered
    // Without a body the server hands the router a bodiless request (no body reader): the
    // stream route still gets one, whose read says eof.
    got = exchange(f, "PUT /count HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].body == "0");

    got = exchange(f, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + big.substr(0, 2000), 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 413);
    CHECK(got[0].body == "{\"status\":413}"); // through the router's error handler
}

TEST_CASE("router on a server: a mounted router's middlewares run after its parent's") {
    test::http_fixture f;
    std::vector<std::string> seen;
    http::router admin;
    admin.use([&](http::route_request&, http::response& res, http::route_next& next) {
        seen.push_back("admin");
        res.header("X-Admin", "1");
        next();
    });
    REQUIRE_FALSE(admin.get("/users/{name}", [&](http::route_request& req, http::response& res) {
        seen.push_back("handler");
        res.end(std::string(req.pattern()) + " " + std::string(req.param("name")));
    }));
    http::router root;
    root.use([&](http::route_request&, http::response&, http::route_next& next) {
        seen.push_back("root");
        next();
    });
    REQUIRE_FALSE(root.mount("/admin", std::move(admin)));
    root.attach(f.server);
    f.listen();
    auto got = exchange(f, test::get_request("/admin/users/bo") + test::get_request("/admin/x"), 2);
    REQUIRE(got.size() == 2);
    CHECK(got[0].body == "/users/{name} bo");
    CHECK(got[0].get("X-Admin") == "1");
    CHECK(got[1].status == 404);
    CHECK(got[1].get("X-Admin").empty());
    CHECK(seen == std::vector<std::string>{"root", "admin", "handler", "root"});
}

TEST_CASE("response::content_length streams a known size without chunked framing") {
    test::http_fixture f;
    f.server.on_request([](const http::request_view& req, http::response& res) {
        res.content_length(10);
        if (req.path() == "/short") {
            res.write("abc");
            res.end(); // 3 of 10: the connection closes after the response
            return;
        }
        CHECK(res.write("01234"));
        CHECK_FALSE(res.write("567890")); // past the announced 10: refused
        CHECK(res.write("56789"));
        res.end();
    });
    f.listen();
    auto got = exchange(f, test::get_request("/full") + test::get_request("/full"), 2);
    REQUIRE(got.size() == 2);
    CHECK_FALSE(got[0].chunked);
    CHECK(got[0].get("Content-Length") == "10");
    CHECK(got[0].body == "0123456789");
    CHECK(got[1].body == "0123456789");

    raw_client c(f.loop, f.port);
    c.send(test::get_request("/short"));
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    CHECK(c.in.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(c.in.substr(c.in.size() - 7) == "\r\n\r\nabc");
}
