// permessage-deflate (RFC 7692 §5, §7.1), sans-I/O: parsing extension parameters, the
// server choosing among offers (declining malformed ones), the client's offer and its checks
// of the server's answer.
#include <ostream> // doctest prints std::error_code through operator<<
#include <doctest/doctest.h>

#include <sluice/ws.hpp>
#include <sluice/ws/deflate.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace sluice::ws;

namespace {

header_list one_header(std::vector<header_field>& store, std::string_view name,
                       std::string_view value) {
    store.assign(1, header_field{name, value});
    return header_list(store);
}

deflate_settings takeover_settings() {
    deflate_settings s;
    s.no_context_takeover = false;
    s.peer_no_context_takeover = false;
    s.min_size = 0;
    return s;
}

} // namespace

TEST_CASE("deflate: parameters of an offer or response") {
    deflate_params p;
    CHECK(parse_deflate_params("permessage-deflate", p) == deflate_parse::ok);
    CHECK_FALSE(p.has_client_max_window_bits);
    CHECK(parse_deflate_params("Permessage-Deflate ; client_max_window_bits; "
                               "server_max_window_bits=10;server_no_context_takeover ; "
                               "client_no_context_takeover",
                               p) == deflate_parse::ok);
    CHECK(p.has_client_max_window_bits);
    CHECK(p.client_max_window_bits == 0); // without a value
    CHECK(p.server_max_window_bits == 10);
    CHECK(p.server_no_context_takeover);
    CHECK(p.client_no_context_takeover);
    CHECK(parse_deflate_params("permessage-deflate; client_max_window_bits=\"9\"", p) ==
          deflate_parse::ok);
    CHECK(p.client_max_window_bits == 9);
    CHECK(parse_deflate_params("x-webkit-deflate-frame", p) == deflate_parse::other);
    CHECK(parse_deflate_params("permessage-deflatex", p) == deflate_parse::other);
    const char* bad[] = {
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover", // duplicate
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",      // duplicate
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",   // duplicate
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_no_context_takeover=1", // takes no value
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; server_max_window_bits", // needs a value
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08", // leading zero
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; client_max_window_bits=1a",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"1\\0\"",
        "permessage-deflate;",
        "permessage-deflate; =10",
    };
    for (const char* b : bad) {
        CAPTURE(b);
        CHECK(parse_deflate_params(b, p) == deflate_parse::invalid);
    }
}

TEST_CASE("deflate: the server picks the first acceptable offer, declines malformed ones") {
    deflate_settings cfg; // defaults: no context takeover both ways, 15 bits
    deflate_agreement a;
    std::string resp;
    std::vector<header_field> f;
    // Chromium's and Firefox's offer.
    REQUIRE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        cfg, a, resp));
    CHECK(resp == "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    CHECK(a.own_no_context_takeover);
    CHECK(a.peer_no_context_takeover);
    CHECK(a.own_window_bits == 15);
    CHECK(a.peer_window_bits == 15);

    // A malformed first offer is declined and the next one taken (RFC 7692 §5).
    cfg = takeover_settings();
    f = {{"Sec-WebSocket-Extensions", "permessage-deflate; bogus, foo"},
         {"Sec-WebSocket-Extensions",
          "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"}};
    REQUIRE(negotiate_deflate_offer(header_list(f), cfg, a, resp));
    CHECK(resp == "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12");
    CHECK(a.own_window_bits == 10);
    CHECK(a.peer_window_bits == 12);
    CHECK_FALSE(a.own_no_context_takeover);

    // Only malformed offers: no extension, no header.
    REQUIRE_FALSE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions",
                   "permessage-deflate; server_max_window_bits, permessage-deflate; x=1"),
        cfg, a, resp));
    CHECK(resp.empty());
    // No offer at all, or only others.
    CHECK_FALSE(negotiate_deflate_offer(one_header(f, "Sec-WebSocket-Extensions", "foo; bar"),
                                        cfg, a, resp));
    CHECK_FALSE(negotiate_deflate_offer(one_header(f, "Other", "permessage-deflate"), cfg, a,
                                        resp));
    // Disabled.
    deflate_settings off;
    off.enabled = false;
    CHECK_FALSE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate"), off, a, resp));

    // The client's hint client_no_context_takeover is echoed (made binding); the server's
    // own window and a client limit the client did not offer to accept.
    cfg.window_bits = 11;
    cfg.peer_window_bits = 10;
    REQUIRE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate; client_no_context_takeover"),
        cfg, a, resp));
    CHECK(resp == "permessage-deflate; client_no_context_takeover; server_max_window_bits=11");
    CHECK(a.peer_window_bits == 15); // the client cannot be limited: it did not say it can
    CHECK(a.peer_no_context_takeover);
    REQUIRE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        cfg, a, resp));
    CHECK(resp == "permessage-deflate; server_max_window_bits=11; client_max_window_bits=10");
    CHECK(a.peer_window_bits == 10);

    // window_bits 8 is used as 9 (zlib); a client limiting us to 8 gets uncompressed messages.
    cfg = takeover_settings();
    cfg.window_bits = 8;
    REQUIRE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate"), cfg, a, resp));
    CHECK(resp == "permessage-deflate; server_max_window_bits=9");
    REQUIRE(negotiate_deflate_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=8"),
        cfg, a, resp));
    CHECK(a.own_window_bits == 8);
    deflate_extension x(std::make_shared<detail::zlib_pool>(cfg), a);
    CHECK_FALSE(x.transforms(opcode::text, 1000));
}

TEST_CASE("deflate: the client's offer and its checks of the response") {
    deflate_settings cfg;
    CHECK(make_deflate_offer(cfg) == "permessage-deflate; client_no_context_takeover; "
                                     "server_no_context_takeover; client_max_window_bits");
    cfg = takeover_settings();
    cfg.window_bits = 12;
    cfg.peer_window_bits = 10;
    CHECK(make_deflate_offer(cfg) ==
          "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12");

    struct row {
        const char* response;
        std::error_code ec;
    };
    const std::error_code bad = error::bad_extension_response;
    const std::error_code unexpected = error::unexpected_extension;
    const row rows[] = {
        {"permessage-deflate; server_max_window_bits=10", {}},
        {"permessage-deflate; server_max_window_bits=9; client_max_window_bits=11", {}},
        {"permessage-deflate; server_max_window_bits=10; server_no_context_takeover", {}},
        {"permessage-deflate", bad},                            // our server limit unconfirmed
        {"permessage-deflate; server_max_window_bits=11", bad}, // above what we asked
        {"permessage-deflate; server_max_window_bits=10; client_max_window_bits", bad},
        {"permessage-deflate; server_max_window_bits=10; client_max_window_bits=13", bad},
        {"permessage-deflate; server_max_window_bits=10; foo", bad},
        {"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", bad},
        {"x-webkit-deflate-frame", unexpected},
        {"permessage-deflate; server_max_window_bits=10, permessage-deflate", unexpected},
    };
    for (const row& r : rows) {
        CAPTURE(r.response);
        std::vector<header_field> f;
        deflate_agreement a;
        bool accepted = true;
        CHECK(check_deflate_response(one_header(f, "Sec-WebSocket-Extensions", r.response), cfg,
                                     a, accepted) == r.ec);
        CHECK(accepted == !r.ec);
    }
    std::vector<header_field> none;
    deflate_agreement a;
    bool accepted = true;
    CHECK_FALSE(check_deflate_response(header_list(none), cfg, a, accepted));
    CHECK_FALSE(accepted);

    // What the client uses once accepted.
    std::vector<header_field> f;
    REQUIRE_FALSE(check_deflate_response(
        one_header(f, "Sec-WebSocket-Extensions",
                   "permessage-deflate; server_max_window_bits=9; client_max_window_bits=11; "
                   "client_no_context_takeover"),
        cfg, a, accepted));
    CHECK(a.own_window_bits == 11);
    CHECK(a.peer_window_bits == 9);
    CHECK(a.own_no_context_takeover);
    CHECK_FALSE(a.peer_no_context_takeover);

    // We asked the server for no context takeover: it must confirm (RFC 7692 §7.1.1.1).
    deflate_settings nct;
    CHECK(check_deflate_response(one_header(f, "Sec-WebSocket-Extensions",
                                            "permessage-deflate; client_no_context_takeover"),
                                 nct, a, accepted) == bad);
}
