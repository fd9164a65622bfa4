// The router's matching, without a server: patterns, parameters, percent-decoding,
// 404 / 405 / 400 / 414, HEAD via GET, priorities, mounts, registration errors.
#include <doctest/doctest.h>

#include <sluice/http.hpp>

#include <ostream>
#include <string>

namespace http = sluice::http;

namespace {

void nothing(http::route_request&, http::response&) {}

} // namespace

TEST_CASE("router: literal and parameter routes, decoded parameters") {
    http::router r;
    REQUIRE_FALSE(r.get("/items", nothing));
    REQUIRE_FALSE(r.get("/items/{id}", nothing));
    REQUIRE_FALSE(r.get("/users/{user}/posts/{post}", nothing));
    REQUIRE_FALSE(r.get("/", nothing));

    http::route_match m = r.match("GET", "/items/42");
    CHECK(m.status == 200);
    CHECK(m.param("id") == "42");
    CHECK(m.param("other").empty());

    m = r.match("GET", "/users/ann/posts/7?x=1"); // the query is not part of the path
    REQUIRE(m.found());
    CHECK(m.param_count() == 2);
    CHECK(m.param("user") == "ann");
    CHECK(m.param("post") == "7");
    CHECK(m.param_name(0) == "user");

    CHECK(r.match("GET", "/").found());
    CHECK(r.match("GET", "/items").found());
    CHECK(r.match("GET", "/items/").status == 404); // a trailing slash is another path
    CHECK(r.match("GET", "/items/42/more").status == 404);
    CHECK(r.match("GET", "/nothing").status == 404);
    CHECK(r.match("GET", "/items//").status == 404); // a parameter is never empty
}

TEST_CASE("router: percent-decoding per segment; %2F stays inside its segment") {
    http::router r;
    REQUIRE_FALSE(r.get("/files/{name}", nothing));
    REQUIRE_FALSE(r.get("/café/menu", nothing));
    http::route_match m = r.match("GET", "/files/a%2Fb%20c");
    REQUIRE(m.found());
    CHECK(m.param("name") == "a/b c");
    // Decoded, the path has 3 slashes; matched by segments, it still is 2 segments.
    CHECK(r.match("GET", "/files%2Fx").status == 404);
    CHECK(r.match("GET", "/caf%C3%A9/menu").found()); // literals compare decoded
    CHECK(r.match("GET", "/files/%41").param("name") == "A");

    CHECK(r.match("GET", "/files/%zz").status == 400);
    CHECK(r.match("GET", "/files/%4").status == 400);
    CHECK(r.match("GET", "/files/abc%").status == 400);
    CHECK(r.match("GET", "/files/%00").status == 400);         // NUL
    CHECK(r.match("GET", "/files/..").status == 400);          // dot segments are refused,
    CHECK(r.match("GET", "/files/%2e%2e").status == 400);      // encoded or not
    CHECK(r.match("GET", "/files/./x").status == 400);
    CHECK(r.match("GET", "*").status == 400);                  // not a path
    CHECK(r.match("GET", "http://h/files/x").found());          // absolute-form: its path
}

TEST_CASE("router: trailing wildcard") {
    http::router r;
    REQUIRE_FALSE(r.get("/static/{path...}", nothing));
    http::route_match m = r.match("GET", "/static/css/site%20main.css");
    REQUIRE(m.found());
    CHECK(m.param("path") == "css/site main.css");
    m = r.match("GET", "/static/");
    REQUIRE(m.found());
    CHECK(m.param("path").empty());
    CHECK(r.match("GET", "/static").status == 404);
}

TEST_CASE("router: priority is literal, then parameter, then wildcard, with backtracking") {
    http::router r;
    REQUIRE_FALSE(r.get("/items/new", nothing));
    REQUIRE_FALSE(r.get("/items/{id}", nothing));
    REQUIRE_FALSE(r.get("/items/{path...}", nothing));
    REQUIRE_FALSE(r.get("/items/{id}/edit", nothing));
    REQUIRE_FALSE(r.get("/items/new/x/y", nothing));

    http::route_match m = r.match("GET", "/items/new");
    CHECK(m.param_count() == 0); // the literal won
    m = r.match("GET", "/items/7");
    CHECK(m.param("id") == "7");
    m = r.match("GET", "/items/7/more");
    CHECK(m.param("path") == "7/more");
    // "new" leads to a literal subtree that has no "edit": the parameter takes it.
    m = r.match("GET", "/items/new/edit");
    REQUIRE(m.found());
    CHECK(m.param("id") == "new");
    // ...and when neither has it, the wildcard.
    m = r.match("GET", "/items/new/x");
    REQUIRE(m.found());
    CHECK(m.param("path") == "new/x");
    CHECK(r.match("GET", "/items/new/x/y").param_count() == 0);

    // A literal route for another method does not hide a parameter route for this one.
    http::router q;
    REQUIRE_FALSE(q.get("/items/new", nothing));
    REQUIRE_FALSE(q.delete_("/items/{id}", nothing));
    m = q.match("DELETE", "/items/new");
    REQUIRE(m.found());
    CHECK(m.param("id") == "new");
}

TEST_CASE("router: 405 lists the path's methods in Allow; HEAD is answered by GET") {
    http::router r;
    REQUIRE_FALSE(r.get("/items", nothing));
    REQUIRE_FALSE(r.post("/items", nothing));
    REQUIRE_FALSE(r.delete_("/items/{id}", nothing));
    REQUIRE_FALSE(r.route("PUT", "/items/{id}", nothing));

    http::route_match m = r.match("PATCH", "/items");
    CHECK(m.status == 405);
    CHECK(m.allow() == "GET, HEAD, POST");
    m = r.match("GET", "/items/3");
    CHECK(m.status == 405);
    CHECK(m.allow() == "DELETE, PUT");

    m = r.match("HEAD", "/items");
    CHECK(m.found());
    CHECK(m.route == r.match("GET", "/items").route);
    CHECK(r.match("HEAD", "/items/3").status == 405); // no GET there
    CHECK(r.match("get", "/items").status == 405);     // methods are case-sensitive

    // An explicit HEAD route wins over GET.
    REQUIRE_FALSE(r.route("HEAD", "/items", nothing));
    CHECK(r.match("HEAD", "/items").route != r.match("GET", "/items").route);

    // Methods without a verb of their own compare by name, on literal paths (the whole-path
    // table) and parameter paths (the walk) alike.
    for (std::string_view path : {"/items", "/items/3"}) {
        const std::string pattern = path == "/items" ? "/items" : "/items/{id}";
        REQUIRE_FALSE(r.route("PURGE", pattern, nothing));
        REQUIRE_FALSE(r.route("BREW", pattern, nothing));
        const http::route_match purge = r.match("PURGE", path), brew = r.match("BREW", path);
        REQUIRE(purge.found());
        REQUIRE(brew.found());
        CHECK(purge.route != brew.route);
        CHECK(r.match("purge", path).status == 405);
        CHECK(r.match("PURGED", path).status == 405);
    }
}

TEST_CASE("router: mounted routers match the rest of the path") {
    http::router api;
    REQUIRE_FALSE(api.get("/", nothing));
    REQUIRE_FALSE(api.get("/items/{id}", nothing));
    http::router v2;
    REQUIRE_FALSE(v2.get("/items/{id}", nothing));
    REQUIRE_FALSE(api.mount("/v2", std::move(v2)));

    http::router root;
    REQUIRE_FALSE(root.get("/api/health", nothing)); // the parent's own routes come first
    REQUIRE_FALSE(root.mount("/api", std::move(api)));
    REQUIRE_FALSE(root.error());

    http::route_match m = root.match("GET", "/api/items/9");
    REQUIRE(m.found());
    CHECK(m.param("id") == "9");
    CHECK(m.trail.size() == 1);
    CHECK(m.owner != nullptr);
    m = root.match("GET", "/api/v2/items/10");
    REQUIRE(m.found());
    CHECK(m.param("id") == "10");
    CHECK(m.trail.size() == 2);
    CHECK(root.match("GET", "/api").found());
    CHECK(root.match("GET", "/api/health").trail.empty());
    CHECK(root.match("GET", "/api/none").status == 404);
    CHECK(root.match("POST", "/api/items/9").status == 405);
    CHECK(root.match("POST", "/api/items/9").allow() == "GET, HEAD");
    CHECK(root.match("GET", "/apix/items/9").status == 404);

    http::router other;
    CHECK(root.mount("/api", std::move(other)) == http::route_error::duplicate_route);
    http::router with_param;
    CHECK(root.mount("/x/{id}", std::move(with_param)) == http::route_error::bad_pattern);
    CHECK(root.mount("/y", std::move(api)) == http::route_error::empty_router); // moved from
}

TEST_CASE("router: registration errors are error codes, and the first one is kept") {
    http::router r;
    CHECK(r.get("items", nothing) == http::route_error::bad_pattern);
    CHECK(r.error() == http::route_error::bad_pattern);
    CHECK(r.get("/a/{}", nothing) == http::route_error::bad_pattern);
    CHECK(r.get("/a/{x", nothing) == http::route_error::bad_pattern);
    CHECK(r.get("/a/{x-y}", nothing) == http::route_error::bad_pattern);
    CHECK(r.get("/a/{x}/{x}", nothing) == http::route_error::bad_pattern);
    CHECK(r.get("/a/{rest...}/b", nothing) == http::route_error::bad_pattern);
    CHECK(r.get("/a%20b", nothing) == http::route_error::bad_pattern);
    CHECK(r.get("/a}", nothing) == http::route_error::bad_pattern);
    CHECK(r.route("", "/a", nothing) == http::route_error::bad_method);
    CHECK(r.route("GE T", "/a", nothing) == http::route_error::bad_method);
    REQUIRE_FALSE(r.get("/a/{x}", nothing));
    CHECK(r.get("/a/{y}", nothing) == http::route_error::duplicate_route);
    CHECK(r.error() == http::route_error::bad_pattern); // still the first
    CHECK(!r.error().message().empty());
    CHECK(std::string(r.error().category().name()) == "sluice.http.route");

    http::router_limits small;
    small.max_params = 2;
    small.max_segments = 4;
    http::router s(small);
    CHECK(s.get("/{a}/{b}/{c}", nothing) == http::route_error::too_many_params);
    CHECK(s.get("/a/b/c/d/e", nothing) == http::route_error::too_many_segments);
    REQUIRE_FALSE(s.get("/{rest...}", nothing));
    CHECK(s.match("GET", "/1/2/3/4").found());
    CHECK(s.match("GET", "/1/2/3/4/5").status == 414); // a request past max_segments
}

TEST_CASE("router: query parameters, decoded") {
    std::string v;
    CHECK(http::query_value("a=1&name=J%C3%B6rg+M&b", "name", v));
    CHECK(v == "Jörg M");
    CHECK(http::query_value("a=1&b", "b", v));
    CHECK(v.empty());
    CHECK(http::query_value("x%20y=2", "x y", v));
    CHECK(v == "2");
    CHECK_FALSE(http::query_value("a=1", "z", v));
    CHECK_FALSE(http::query_value("a=%zz", "a", v));
}

TEST_CASE("router: literal-only paths are looked up whole, with the walk's answers") {
    // Enough literal routes to grow the lookup table several times, beside parameter and
    // wildcard routes on the same segments, so that the priorities are crossed.
    http::router r;
    for (int i = 0; i < 300; ++i)
        REQUIRE_FALSE(r.get("/s/" + std::to_string(i) + "/x", nothing));
    REQUIRE_FALSE(r.get("/items/{id}", nothing));
    REQUIRE_FALSE(r.get("/items/new", nothing));
    REQUIRE_FALSE(r.post("/items/new", nothing));
    REQUIRE_FALSE(r.put("/only-put", nothing));
    REQUIRE_FALSE(r.get("/a/./b", nothing)); // a dot segment never matches
    REQUIRE_FALSE(r.get("/", nothing));
    REQUIRE_FALSE(r.get("/trailing/", nothing));

    for (int i = 0; i < 300; i += 7) {
        http::route_match m = r.match("GET", "/s/" + std::to_string(i) + "/x");
        REQUIRE(m.found());
        CHECK(m.param_count() == 0);
    }
    CHECK(r.match("GET", "/s/300/x").status == 404);
    CHECK(r.match("GET", "/s/1/x/").status == 404);

    http::route_match lit = r.match("GET", "/items/new");
    http::route_match param = r.match("GET", "/items/5");
    REQUIRE(lit.found());
    REQUIRE(param.found());
    CHECK(lit.route != param.route);
    CHECK(lit.param_count() == 0);
    CHECK(param.param("id") == "5");
    CHECK(r.match("POST", "/items/new").route != lit.route);
    CHECK(r.match("GET", "/items/ne%77").route == lit.route); // decoded, then the walk

    CHECK(r.match("HEAD", "/items/new").route == lit.route); // HEAD by the GET route
    http::route_match wrong = r.match("DELETE", "/only-put");
    CHECK(wrong.status == 405);
    CHECK(wrong.allow() == "PUT");
    CHECK(r.match("HEAD", "/only-put").status == 405);

    CHECK(r.match("GET", "/a/./b").status == 400);
    CHECK(r.match("GET", "/").found());
    CHECK(r.match("GET", "/trailing/").found());
    CHECK(r.match("GET", "/trailing").status == 404);
}
