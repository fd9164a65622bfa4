// X-Forwarded-For and Forwarded (RFC 7239, its examples included): the hop asked for,
// views into the value, and errors for anything off the grammar.
#include "../loop/common.hpp"

#include <sluice/http/forwarded.hpp>

#include <string>
#include <vector>

namespace http = sluice::http;
using sluice::endpoint;
using kind = http::forwarded_node::kind;

namespace {

std::vector<std::string> xff_names(std::string_view v, std::error_code& ec) {
    std::vector<std::string> out;
    ec = http::for_each_xff(v, [&](const http::forwarded_node& n) {
        CHECK(n.name.data() >= v.data());
        CHECK(n.name.data() + n.name.size() <= v.data() + v.size());
        out.emplace_back(n.name);
    });
    return out;
}

std::error_code forwarded_error_of(std::string_view v) {
    std::size_t n = 0;
    return http::forwarded_count(v, n);
}

} // namespace

TEST_CASE("X-Forwarded-For: the client is leftmost, trusted hops count from the right") {
    const std::string v = "203.0.113.195, 70.41.3.18,150.172.238.178";
    http::forwarded_node n;
    REQUIRE_FALSE(http::xff_client(v, n));
    CHECK(n.type == kind::ipv4);
    CHECK(n.name == "203.0.113.195");
    CHECK(n.port.empty());
    REQUIRE_FALSE(http::xff_from_right(v, 0, n));
    CHECK(n.name == "150.172.238.178");
    REQUIRE_FALSE(http::xff_from_right(v, 1, n));
    CHECK(n.name == "70.41.3.18");
    REQUIRE_FALSE(http::xff_from_right(v, 2, n));
    CHECK(n.name == "203.0.113.195");
    CHECK(http::xff_from_right(v, 3, n) == http::forwarded_error::too_few_hops);
    CHECK(n.type == kind::none);
    std::size_t count = 0;
    REQUIRE_FALSE(http::xff_count(v, count));
    CHECK(count == 3);
    CHECK(n.to_endpoint().valid() == false);
    REQUIRE_FALSE(http::xff_client(v, n));
    CHECK(n.to_endpoint() == endpoint::parse("203.0.113.195", 0));
}

TEST_CASE("X-Forwarded-For: address forms, whitespace") {
    std::error_code ec;
    auto names = xff_names("\t2001:db8:85a3:8d3:1319:8a2e:370:7348 ,[2001:db8::1]:443 , "
                           "192.0.2.1:8080, unknown, ::ffff:192.0.2.9 ",
                           ec);
    REQUIRE_FALSE(ec);
    CHECK(names == std::vector<std::string>{"2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8::1",
                                            "192.0.2.1", "unknown", "::ffff:192.0.2.9"});
    http::forwarded_node n;
    REQUIRE_FALSE(http::xff_from_right("[2001:db8::1]:443", 0, n));
    CHECK(n.type == kind::ipv6);
    CHECK(n.port == "443");
    CHECK(n.port_number == 443);
    CHECK(n.to_endpoint() == endpoint::parse("2001:db8::1", 443));
    REQUIRE_FALSE(http::xff_client("unknown", n));
    CHECK(n.type == kind::unknown);
    CHECK_FALSE(n.is_ip());
}

TEST_CASE("X-Forwarded-For: malformed lists are errors, not guesses") {
    for (const char* v : {"",
                          " ",
                          "1.2.3.4,",
                          ",1.2.3.4",
                          "1.2.3.4,,5.6.7.8",
                          "1.2.3.4, ,5.6.7.8",
                          "1.2.3.4 5.6.7.8",
                          "evil",
                          "1.2.3.256",
                          "01.2.3.4",
                          "1.2.3.4:99999",
                          "1.2.3.4:",
                          "1.2.3.4:080",
                          "[::1",
                          "[::1]x",
                          "[1.2.3.4]",
                          "_hidden",
                          "::1:",
                          "1.2.3.4;5.6.7.8",
                          "1.2.3.4\r\n",
                          "2001:db8::1:80:1:2:3:4"}) {
        INFO("value \"" << v << "\"");
        std::error_code ec;
        xff_names(v, ec);
        CHECK(ec);
        CHECK(ec.category() == http::forwarded_category());
        http::forwarded_node n;
        CHECK(http::xff_client(v, n));
    }
    http::forwarded_node n;
    CHECK(http::xff_client("1.2.3.4,,5.6.7.8", n) == http::forwarded_error::empty_element);
    CHECK(http::xff_client("1.2.3.4:99999", n) == http::forwarded_error::bad_port);
    CHECK(http::xff_client("evil", n) == http::forwarded_error::bad_node);
}

TEST_CASE("X-Forwarded-For: appending this hop") {
    std::string v;
    http::append_xff(v, endpoint::parse("192.0.2.1", 5555));
    CHECK(v == "192.0.2.1");
    http::append_xff(v, endpoint::parse("2001:db8::1", 80));
    CHECK(v == "192.0.2.1, 2001:db8::1");
    http::append_xff(v, endpoint());
    CHECK(v == "192.0.2.1, 2001:db8::1, unknown");
    http::forwarded_node n;
    REQUIRE_FALSE(http::xff_from_right(v, 1, n));
    CHECK(n.name == "2001:db8::1");
}

TEST_CASE("Forwarded: the examples of RFC 7239") {
    http::forwarded_element e;
    REQUIRE_FALSE(http::forwarded_first("for=\"_gazonk\"", e));
    CHECK(e.for_node.type == kind::obfuscated);
    CHECK(e.for_node.name == "_gazonk");

    REQUIRE_FALSE(http::forwarded_first("For=\"[2001:db8:cafe::17]:4711\"", e));
    CHECK(e.for_node.type == kind::ipv6);
    CHECK(e.for_node.name == "2001:db8:cafe::17");
    CHECK(e.for_node.port_number == 4711);
    CHECK(e.for_node.to_endpoint() == endpoint::parse("2001:db8:cafe::17", 4711));

    REQUIRE_FALSE(http::forwarded_first("for=192.0.2.60;proto=http;by=203.0.113.43", e));
    CHECK(e.for_node.name == "192.0.2.60");
    CHECK(e.proto == "http");
    CHECK(e.by_node.type == kind::ipv4);
    CHECK(e.by_node.name == "203.0.113.43");
    CHECK(e.host.empty());

    const std::string two = "for=192.0.2.43, for=198.51.100.17";
    REQUIRE_FALSE(http::forwarded_first(two, e));
    CHECK(e.for_node.name == "192.0.2.43");
    REQUIRE_FALSE(http::forwarded_from_right(two, 0, e));
    CHECK(e.for_node.name == "198.51.100.17");
    CHECK(http::forwarded_from_right(two, 2, e) == http::forwarded_error::too_few_hops);

    REQUIRE_FALSE(http::forwarded_first("for=unknown", e));
    CHECK(e.for_node.type == kind::unknown);
    REQUIRE_FALSE(http::forwarded_first("for=\"_hidden:_port\";by=\"unknown:8080\"", e));
    CHECK(e.for_node.port == "_port");
    CHECK(e.by_node.type == kind::unknown);
    CHECK(e.by_node.port_number == 8080);
}

TEST_CASE("Forwarded: host, proto, extensions, empty pairs") {
    http::forwarded_element e;
    REQUIRE_FALSE(http::forwarded_first("host=example.com;proto=https", e));
    CHECK(e.host == "example.com");
    CHECK(e.proto == "https");
    CHECK(e.for_node.type == kind::none);
    REQUIRE_FALSE(http::forwarded_first("host=\"example.com:8080\"", e));
    CHECK(e.host == "example.com:8080");
    REQUIRE_FALSE(http::forwarded_first("host=\"[::1]:80\";for=\"1.2.3.4:0080\"", e));
    CHECK(e.host == "[::1]:80");
    CHECK(e.for_node.port_number == 80); // RFC 7239 ports are 1*5DIGIT
    REQUIRE_FALSE(http::forwarded_first("host=xn--bcher-kva.example%41", e));
    // Extension parameters are checked for syntax and skipped; they may hold escapes.
    REQUIRE_FALSE(http::forwarded_first("ext=\"a\\\"b, c\";for=1.2.3.4;;secret=x;", e));
    CHECK(e.for_node.name == "1.2.3.4");
    std::size_t n = 0;
    REQUIRE_FALSE(http::forwarded_count("a=1,b=2 ,\tc=3", n));
    CHECK(n == 3);
}

TEST_CASE("Forwarded: malformed values are errors") {
    using fe = http::forwarded_error;
    struct vec {
        const char* value;
        fe expected;
    };
    for (const vec& t : std::initializer_list<vec>{
             {"", fe::empty_element},
             {"for=1.2.3.4,", fe::empty_element},
             {",for=1.2.3.4", fe::empty_element},
             {"for=1.2.3.4,,for=5.6.7.8", fe::empty_element},
             {";", fe::empty_element},
             {"for=[::1]", fe::bad_pair},       // brackets need quotes
             {"for=2001:db8::1", fe::bad_pair}, // so does ':'
             {"for=1.2.3.4:80", fe::bad_pair},
             {"for=\"2001:db8::1\"", fe::bad_node}, // IPv6 must be bracketed
             {"for=\"[::1\"", fe::bad_node},
             {"for=\"[1.2.3.4]\"", fe::bad_node},
             {"for=evil", fe::bad_node},
             {"for=_", fe::bad_node},
             {"for=\"_a b\"", fe::bad_node},
             {"for=\"1.2.3.4:\"", fe::bad_port},
             {"for=\"1.2.3.4:65536\"", fe::bad_port},
             {"for=\"1.2.3.4:_\"", fe::bad_port},
             {"for=1.2.3.4;for=5.6.7.8", fe::duplicate_parameter},
             {"for=1.2.3.4;FOR=5.6.7.8", fe::duplicate_parameter},
             {"proto=http;proto=https", fe::duplicate_parameter},
             {"for=\"1.2.3.4", fe::bad_quoted_string},
             {"for=\"1.2.3.4\x01\"", fe::bad_quoted_string},
             {"for=\"\\1.2.3.4\"", fe::escaped_value},
             {"for=", fe::bad_pair},
             {"=1.2.3.4", fe::empty_element},
             {"for", fe::bad_pair},
             {"for=1.2.3.4 ;proto=http", fe::bad_pair},
             {"for=1.2.3.4; proto=http", fe::bad_pair},
             {"for = 1.2.3.4", fe::bad_pair},
             {"for=1.2.3.4 for=5.6.7.8", fe::bad_pair},
             {"proto=1http", fe::bad_proto},
             {"proto=\"ht tp\"", fe::bad_proto},
             {"host=\"exa mple\"", fe::bad_host},
             {"host=\"a:b\"", fe::bad_host},
             {"host=\"[::1\"", fe::bad_host},
             {"host=\"%4\"", fe::bad_host},
             {"host=\":80\"", fe::bad_host},
         }) {
        INFO("value \"" << t.value << "\"");
        CHECK(forwarded_error_of(t.value) == t.expected);
        http::forwarded_element e;
        CHECK(http::forwarded_first(t.value, e) == t.expected);
    }
    // A malformed list is malformed as a whole: no element of it is handed out.
    http::forwarded_element e;
    CHECK(http::forwarded_from_right("for=1.2.3.4, for=evil", 1, e));
    CHECK(e.for_node.type == kind::none);
}

TEST_CASE("Forwarded: building an element") {
    std::string v;
    REQUIRE_FALSE(http::append_forwarded(v, endpoint::parse("192.0.2.60", 1234)));
    CHECK(v == "for=192.0.2.60");
    REQUIRE_FALSE(http::append_forwarded(v, endpoint::parse("2001:db8:cafe::17", 4711), "https",
                                         "example.com:8443", true));
    CHECK(v == "for=192.0.2.60, for=\"[2001:db8:cafe::17]:4711\";proto=https;"
               "host=\"example.com:8443\"");
    REQUIRE_FALSE(http::append_forwarded(v, endpoint(), "http", "example.com"));
    CHECK(v.substr(v.rfind(", ")) == ", for=unknown;proto=http;host=example.com");
    http::forwarded_element e;
    REQUIRE_FALSE(http::forwarded_from_right(v, 1, e));
    CHECK(e.for_node.to_endpoint() == endpoint::parse("2001:db8:cafe::17", 4711));
    CHECK(e.proto == "https");
    CHECK(e.host == "example.com:8443");
    const std::string before = v;
    CHECK(http::append_forwarded(v, endpoint::parse("1.2.3.4", 1), "ht tp") ==
          http::forwarded_error::bad_proto);
    CHECK(http::append_forwarded(v, endpoint::parse("1.2.3.4", 1), "http", "a\"b") ==
          http::forwarded_error::bad_host);
    CHECK(v == before);
}
