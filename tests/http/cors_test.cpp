#include <ostream>

#include <doctest/doctest.h>

#include <sluice/http.hpp>

#include <string>

namespace http = sluice::http;

namespace {
struct parsed {
    std::string raw;
    http::message_storage<32> m;
    explicit parsed(std::string s) : raw(std::move(s)) {
        http::parser p(http::parser::request, m);
        REQUIRE(p.feed(raw).ev == http::event::head);
    }
};
std::string get(const http::cors_decision& d, std::string_view name) {
    for (const http::header& h : d)
        if (h.name == name) return std::string(h.value);
    return "<none>";
}
} // namespace

TEST_CASE("http cors: no Origin is not a CORS request") {
    http::cors_policy pol;
    pol.allowed_origins = {"https://app.example"};
    parsed r("GET / HTTP/1.1\r\nHost: api.example\r\n\r\n");
    http::cors_decision d(pol, r.m);
    CHECK(d.kind == http::cors_kind::not_cors);
    CHECK(d.count == 0);
}

TEST_CASE("http cors: allowed and denied origins, Vary: Origin") {
    http::cors_policy pol;
    pol.allowed_origins = {"https://app.example"};
    pol.exposed_headers = {"X-Request-Id", "ETag"};
    parsed ok("GET /d HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example\r\n\r\n");
    http::cors_decision d(pol, ok.m);
    CHECK(d.kind == http::cors_kind::allowed);
    CHECK(get(d, "Access-Control-Allow-Origin") == "https://app.example");
    CHECK(get(d, "Vary") == "Origin");
    CHECK(get(d, "Access-Control-Expose-Headers") == "X-Request-Id, ETag");
    CHECK(get(d, "Access-Control-Allow-Credentials") == "<none>");

    parsed bad("GET /d HTTP/1.1\r\nHost: api\r\nOrigin: https://evil.example\r\n\r\n");
    http::cors_decision d2(pol, bad.m);
    CHECK(d2.kind == http::cors_kind::denied);
    CHECK(get(d2, "Access-Control-Allow-Origin") == "<none>");
    CHECK(get(d2, "Vary") == "Origin");

    parsed sub("GET /d HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example.evil\r\n\r\n");
    http::cors_decision d3(pol, sub.m);
    CHECK(d3.kind == http::cors_kind::denied);
}

TEST_CASE("http cors: wildcard, and never '*' with credentials") {
    http::cors_policy pol;
    pol.allowed_origins = {"*"};
    parsed r("GET / HTTP/1.1\r\nHost: api\r\nOrigin: https://x.example\r\n\r\n");
    {
        http::cors_decision d(pol, r.m);
        CHECK(d.kind == http::cors_kind::allowed);
        CHECK(get(d, "Access-Control-Allow-Origin") == "*");
        CHECK(get(d, "Vary") == "<none>");
    }
    pol.allow_credentials = true;
    {
        http::cors_decision d(pol, r.m);
        CHECK(get(d, "Access-Control-Allow-Origin") == "https://x.example");
        CHECK(get(d, "Access-Control-Allow-Credentials") == "true");
        CHECK(get(d, "Vary") == "Origin");
    }
    parsed null_origin("GET / HTTP/1.1\r\nHost: api\r\nOrigin: null\r\n\r\n");
    http::cors_decision dn(pol, null_origin.m);
    CHECK(dn.kind == http::cors_kind::denied);
}

TEST_CASE("http cors: preflight") {
    http::cors_policy pol;
    pol.allowed_origins = {"https://app.example"};
    pol.allowed_methods = {"GET", "PUT", "DELETE"};
    pol.allowed_headers = {"Content-Type", "X-Request-Id"};
    pol.allow_credentials = true;
    pol.max_age = 3600;
    parsed ok("OPTIONS /up HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example\r\n"
              "Access-Control-Request-Method: PUT\r\n"
              "Access-Control-Request-Headers: content-type, x-request-id\r\n\r\n");
    http::cors_decision d(pol, ok.m);
    CHECK(d.kind == http::cors_kind::preflight);
    CHECK(d.is_preflight());
    CHECK(get(d, "Access-Control-Allow-Origin") == "https://app.example");
    CHECK(get(d, "Access-Control-Allow-Methods") == "GET, PUT, DELETE");
    CHECK(get(d, "Access-Control-Allow-Headers") == "content-type, x-request-id");
    CHECK(get(d, "Access-Control-Max-Age") == "3600");
    CHECK(get(d, "Access-Control-Allow-Credentials") == "true");
    CHECK(get(d, "Vary") == "Origin");

    parsed bad_method("OPTIONS /up HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example\r\n"
                      "Access-Control-Request-Method: PATCH\r\n\r\n");
    http::cors_decision d2(pol, bad_method.m);
    CHECK(d2.kind == http::cors_kind::preflight_denied);
    CHECK(get(d2, "Access-Control-Allow-Origin") == "<none>");

    parsed bad_header("OPTIONS /up HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example\r\n"
                      "Access-Control-Request-Method: PUT\r\n"
                      "Access-Control-Request-Headers: x-secret\r\n\r\n");
    http::cors_decision d3(pol, bad_header.m);
    CHECK(d3.kind == http::cors_kind::preflight_denied);

    parsed plain_options(
        "OPTIONS /up HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example\r\n\r\n");
    http::cors_decision d4(pol, plain_options.m);
    CHECK(d4.kind == http::cors_kind::allowed); // no ACRM: not a preflight

    parsed other("OPTIONS /up HTTP/1.1\r\nHost: api\r\nOrigin: https://b.example\r\n"
                 "Access-Control-Request-Method: GET\r\n\r\n");
    http::cors_decision d5(pol, other.m);
    CHECK(d5.kind == http::cors_kind::preflight_denied);
    CHECK(get(d5, "Vary") == "Origin");
}
