#include <ostream>

#include <doctest/doctest.h>

#include <sluice/http.hpp>

#include <string>
#include <vector>

namespace http = sluice::http;

TEST_CASE("http url: split_target forms") {
    http::target_parts t;
    REQUIRE(!http::split_target("/a/b?x=1&y=2", t));
    CHECK(t.form == http::target_parts::origin_form);
    CHECK(t.path == "/a/b");
    CHECK(t.query == "x=1&y=2");
    CHECK(t.has_query);

    REQUIRE(!http::split_target("/", t));
    CHECK(t.path == "/");
    CHECK(!t.has_query);

    REQUIRE(!http::split_target("http://example.com:8080/p?q", t));
    CHECK(t.form == http::target_parts::absolute_form);
    CHECK(t.scheme == "http");
    CHECK(t.authority == "example.com:8080");
    CHECK(t.path == "/p");
    CHECK(t.query == "q");

    REQUIRE(!http::split_target("https://example.com", t));
    CHECK(t.authority == "example.com");
    CHECK(t.path.empty());

    REQUIRE(!http::split_target("example.com:443", t));
    CHECK(t.form == http::target_parts::authority_form);
    REQUIRE(!http::split_target("*", t));
    CHECK(t.form == http::target_parts::asterisk_form);

    CHECK(http::split_target("", t) == http::error::bad_url);
    CHECK(http::split_target("a/b", t) == http::error::bad_url);
    CHECK(http::split_target("host:port", t) == http::error::bad_url);
    CHECK(http::split_target("1ttp://x/", t) == http::error::bad_url);
    CHECK(http::split_target("http:///x", t) == http::error::bad_url);
}

TEST_CASE("http url: percent-decoding") {
    struct c {
        const char* in;
        const char* out;
        bool plus;
    } ok[] = {{"a%20b", "a b", false}, {"%41%62%2f", "Ab/", false},
              {"a+b", "a+b", false},   {"a+b", "a b", true},
              {"", "", false},         {"%e2%82%AC", "\xe2\x82\xac", false}};
    for (auto& k : ok) {
        std::string o;
        CHECK(!http::percent_decode(k.in, o, k.plus));
        CHECK(o == k.out);
        std::string in = k.in;
        std::error_code ec;
        std::size_t n = http::percent_decode_inplace(&in[0], in.size(), ec, k.plus);
        CHECK(!ec);
        CHECK(in.substr(0, n) == k.out);
    }
    for (const char* bad : {"%", "%2", "%zz", "a%2g", "%%41", "abc%"}) {
        std::string o;
        INFO(bad);
        CHECK(http::percent_decode(bad, o) == http::error::bad_percent_encoding);
        std::string in = bad;
        std::error_code ec;
        http::percent_decode_inplace(&in[0], in.size(), ec);
        CHECK(ec == http::error::bad_percent_encoding);
    }
}

TEST_CASE("http url: query iteration") {
    std::vector<std::string> seen;
    for (const http::query_param& p : http::query_params("a=1&&b=&c&d=x%20y&=e"))
        seen.push_back(std::string(p.key) + "|" + std::string(p.value) + "|" +
                       (p.has_value ? "v" : "-"));
    REQUIRE(seen.size() == 5);
    CHECK(seen[0] == "a|1|v");
    CHECK(seen[1] == "b||v");
    CHECK(seen[2] == "c||-");
    CHECK(seen[3] == "d|x%20y|v");
    CHECK(seen[4] == "|e|v");
    std::string_view v;
    http::query_params q("name=J%C3%B6rg+M&x=1");
    REQUIRE(q.find("name", v));
    std::string dec;
    CHECK(!http::percent_decode(v, dec, true));
    CHECK(dec == "J\xc3\xb6rg M");
    CHECK(!q.find("nope", v));
    int n = 0;
    for (auto& p : http::query_params("")) (void)p, ++n;
    CHECK(n == 0);
}

TEST_CASE("http url: path normalisation cannot escape the root") {
    struct c {
        const char* in;
        const char* out;
    } ok[] = {
        {"/", "/"},
        {"/a/b", "/a/b"},
        {"/a/b/", "/a/b/"},
        {"/a/./b", "/a/b"},
        {"/a/b/../c", "/a/c"},
        {"/a/..", "/"},
        {"//a///b", "/a/b"},
        {"/a/%2e/b", "/a/b"},
        {"/a/b/%2E%2e/c", "/a/c"},
        {"/%7Euser", "/~user"},
        {"/a%20b", "/a b"},
        {"/a/b/..", "/a/"},
        {"/a/...", "/a/..."},
        {"/.well-known/x", "/.well-known/x"},
    };
    for (auto& k : ok) {
        std::string out;
        INFO(k.in);
        CHECK(!http::normalize_path(k.in, out));
        CHECK(out == k.out);
    }
    struct b {
        const char* in;
        http::error e;
    } bad[] = {
        {"/..", http::error::path_escapes_root},
        {"/a/../..", http::error::path_escapes_root},
        {"/%2e%2e/etc/passwd", http::error::path_escapes_root},
        {"/a/%2E%2E/%2e%2e/x", http::error::path_escapes_root},
        {"/a%2fb", http::error::encoded_slash},
        {"/a%2F..%2F..", http::error::encoded_slash},
        {"/a%5cb", http::error::encoded_slash},
        {"/a\\b", http::error::bad_path},
        {"/a%00b", http::error::bad_path},
        {"a/b", http::error::bad_path},
        {"", http::error::bad_path},
        {"/a%zz", http::error::bad_percent_encoding},
        {"/a%2", http::error::bad_percent_encoding},
    };
    for (auto& k : bad) {
        std::string out;
        INFO(k.in);
        CHECK(http::normalize_path(k.in, out) == k.e);
    }
}
