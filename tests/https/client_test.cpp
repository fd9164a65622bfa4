// https:// in http::fetch and the pooled http::client, against sluice's own HTTPS server
// (http::server behind a tls_listener) on loopback, with the test CA of tests/tls. The
// server counts the TLS connections it accepts and how many resumed a session.
#include <sluice.hpp>
#include <sluice/tls/openssl.hpp>

#include "../tls/certs.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

using namespace sluice;
using tls_test::cert_file;

namespace {

// Answers "<scheme> <path> host=<Host> auth=<Authorization>"; /to-http and /to-https
// redirect to `redirect_to`, /rel redirects to the relative "/landing".
struct site {
    http::server web;
    std::string scheme, redirect_to;
    std::uint16_t port = 0;

    site(loop& lp, std::string s) : web(lp), scheme(std::move(s)) {
        web.on_request([this](const http::request_view& req, http::response& res) {
            if (req.path() == "/to-http" || req.path() == "/to-https")
                return (void)res.status(302).header("Location", redirect_to).end();
            if (req.path() == "/rel") return (void)res.status(302).header("Location", "/landing").end();
            res.end(scheme + " " + std::string(req.path()) + " host=" + std::string(req.get("Host")) +
                    " auth=" + std::string(req.get("Authorization")));
        });
    }
};

struct https_site : site {
    tls_listener listener;
    int accepted = 0, resumed = 0, refused = 0;
    std::vector<std::string> sni;

    https_site(loop& lp, const char* cert) : site(lp, "https"), listener(lp) {
        auto ctx = tls::openssl::server_context::create();
        REQUIRE_FALSE(ctx->add_certificate_files(cert_file((std::string(cert) + ".pem").c_str()),
                                                 cert_file((std::string(cert) + ".key").c_str())));
        REQUIRE_FALSE(listener.listen(endpoint::loopback_v4(0), ctx));
        listener.accept_each([this](std::error_code ec, tls_stream s) {
            if (ec) return;
            ++accepted;
            resumed += s.session_reused();
            sni.push_back(s.server_name());
            web.serve(std::move(s));
        });
        listener.on_handshake_error([this](std::error_code, const std::string&) { ++refused; });
        std::error_code ec;
        port = listener.local_endpoint(ec).port();
    }
    std::string url(const std::string& path) const {
        return "https://localhost:" + std::to_string(port) + path;
    }
    void close() {
        listener.close();
        web.close();
    }
};

struct http_site : site {
    explicit http_site(loop& lp) : site(lp, "http") {
        REQUIRE_FALSE(web.listen(endpoint::loopback_v4(0)));
        std::error_code ec;
        port = web.local_endpoint(ec).port();
    }
    std::string url(const std::string& path) const {
        return "http://localhost:" + std::to_string(port) + path;
    }
};

std::shared_ptr<tls::openssl::client_context> trusting_test_ca() {
    auto c = tls::openssl::client_context::create();
    REQUIRE_FALSE(c->add_ca_file(cert_file("ca.pem")));
    return c;
}

struct outcome {
    std::error_code ec;
    http::client_response res;
    bool done = false;
};

// Runs the loop until done() holds. In slices, not run_once(): run_once() can run the
// last handler at the start of its turn and then block on a loop with nothing more to do
// (seen here: both outcomes in, the loop waiting in epoll with no timer).
template <class Pred>
void run_while_not(loop& lp, Pred done) {
    while (!done()) lp.run_for(std::chrono::milliseconds(20));
}

// Runs the loop until every outcome is in.
void run_until(loop& lp, const std::vector<outcome*>& all) {
    run_while_not(lp, [&] {
        for (outcome* o : all)
            if (!o->done) return false;
        return true;
    });
}

http::fetch_handler into(outcome& o) {
    return [&o](std::error_code ec, http::client_response r) {
        o.ec = ec;
        o.res = std::move(r);
        o.done = true;
    };
}

} // namespace

TEST_CASE("https URLs: the scheme's port is 443, the Host header leaves it out") {
    http::detail::url_parts u;
    REQUIRE(http::detail::split_url("HTTPS://example.test/a?b", u));
    CHECK(u.secure);
    CHECK(u.port == 443);
    CHECK(u.target == "/a?b");
    CHECK(http::detail::authority_of(u) == "example.test");
    http::detail::url_parts v;
    REQUIRE(http::detail::split_url("https://[::1]:80/", v));
    CHECK(v.port == 80);
    CHECK(http::detail::authority_of(v) == "[::1]:80");
    http::detail::url_parts w;
    REQUIRE(http::detail::split_url("http://example.test/", w));
    CHECK_FALSE(w.secure);
    CHECK(w.port == 80);
}

TEST_CASE("fetch: https:// with a verifying context; the URL's host is the SNI and the Host") {
    loop lp;
    https_site srv(lp, "localhost");
    http::request_options opt;
    opt.tls = trusting_test_ca();
    outcome ok, no_ctx;
    http::fetch(lp, srv.url("/hello"), opt, into(ok));
    http::fetch(lp, srv.url("/hello"), into(no_ctx)); // no TLS context: refused, no connect
    run_until(lp, {&ok, &no_ctx});
    CHECK_FALSE(ok.ec);
    CHECK(ok.res.status == 200);
    CHECK(ok.res.body == "https /hello host=localhost:" + std::to_string(srv.port) + " auth=");
    CHECK(no_ctx.ec == std::errc::protocol_not_supported);
    CHECK(srv.accepted == 1);
    REQUIRE(srv.sni.size() == 1);
    CHECK(srv.sni[0] == "localhost");

    // An address: checked against the certificate's IP names, and no SNI (RFC 6066 §3).
    outcome by_ip;
    http::fetch(lp, "https://127.0.0.1:" + std::to_string(srv.port) + "/ip", opt, into(by_ip));
    run_until(lp, {&by_ip});
    CHECK_FALSE(by_ip.ec);
    CHECK(by_ip.res.body == "https /ip host=127.0.0.1:" + std::to_string(srv.port) + " auth=");
    REQUIRE(srv.sni.size() == 2);
    CHECK(srv.sni[1] == "");
    srv.close();
}

TEST_CASE("fetch and client: a certificate for another name is refused with verify_failed") {
    loop lp;
    https_site srv(lp, "other"); // DNS:other.test, reached as localhost
    http::request_options opt;
    opt.tls = trusting_test_ca();
    http::client_settings s;
    s.tls = opt.tls;
    http::client c(lp, s);
    outcome fetched, pooled;
    http::fetch(lp, srv.url("/"), opt, into(fetched));
    c.get(srv.url("/"), into(pooled));
    run_until(lp, {&fetched, &pooled});
    CHECK(fetched.ec == tls::error::verify_failed);
    CHECK(pooled.ec == tls::error::verify_failed);
    CHECK(srv.accepted == 0);
    c.close();
    srv.close();
}

TEST_CASE("client: requests share one TLS connection; the next connection resumes the session") {
    loop lp;
    https_site srv(lp, "localhost");
    http::client_settings s;
    s.tls = trusting_test_ca();
    s.max_connections_per_origin = 2;
    http::client c(lp, s);
    for (int i = 0; i < 5; ++i) { // one after the other: one connection
        outcome o;
        c.get(srv.url("/n" + std::to_string(i)), into(o));
        run_until(lp, {&o});
        CHECK_FALSE(o.ec);
        CHECK(o.res.body == "https /n" + std::to_string(i) + " host=localhost:" +
                                std::to_string(srv.port) + " auth=");
    }
    CHECK(srv.accepted == 1);
    CHECK(c.connections_opened() == 1);
    CHECK(srv.resumed == 0);

    // Two at once: the pooled connection takes one, and a second connection opens for the
    // other (which may still go out on the first, freed sooner); the second connection
    // offers the session the first was given.
    outcome a, b;
    c.get(srv.url("/a"), into(a));
    c.get(srv.url("/b"), into(b));
    run_until(lp, {&a, &b});
    CHECK_FALSE(a.ec);
    CHECK_FALSE(b.ec);
    run_while_not(lp, [&] { return srv.accepted == 2; });
    CHECK(srv.accepted == 2);
    CHECK(srv.resumed == 1);

    // A new client sharing the context resumes too (the sessions are the context's).
    http::client c2(lp, s);
    outcome again;
    c2.get(srv.url("/again"), into(again));
    run_until(lp, {&again});
    CHECK_FALSE(again.ec);
    CHECK(srv.accepted == 3);
    CHECK(srv.resumed == 2);
    c.close();
    c2.close();
    srv.close();
}

TEST_CASE("client: a context with resumption off never resumes") {
    loop lp;
    https_site srv(lp, "localhost");
    auto ctx = trusting_test_ca();
    ctx->set_resumption(false);
    http::client_settings s;
    s.tls = ctx;
    for (int i = 0; i < 2; ++i) {
        http::client c(lp, s);
        outcome o;
        c.get(srv.url("/"), into(o));
        run_until(lp, {&o});
        CHECK_FALSE(o.ec);
    }
    CHECK(srv.accepted == 2);
    CHECK(srv.resumed == 0);
    srv.close();
}

TEST_CASE("client: http:// and https:// of one host and port never share a connection") {
    loop lp;
    https_site srv(lp, "localhost");
    http::client_settings s;
    s.tls = trusting_test_ca();
    http::client c(lp, s);
    outcome secure, plain;
    c.get(srv.url("/"), into(secure));
    run_until(lp, {&secure});
    REQUIRE_FALSE(secure.ec);
    REQUIRE(c.idle_connections() == 1);
    // Plain HTTP to the TLS port: had it taken the idle TLS connection, it would succeed.
    c.get("http://localhost:" + std::to_string(srv.port) + "/", into(plain));
    run_until(lp, {&plain});
    CHECK(plain.ec);
    CHECK(c.connections_opened() == 2);
    c.close();
    srv.close();
}

TEST_CASE("client: redirects between http:// and https:// drop Authorization") {
    loop lp;
    https_site tls_srv(lp, "localhost");
    http_site plain_srv(lp);
    plain_srv.redirect_to = tls_srv.url("/landing");
    tls_srv.redirect_to = plain_srv.url("/landing");
    http::client_settings s;
    s.tls = trusting_test_ca();
    http::client c(lp, s);
    auto with_auth = [](std::string url) {
        http::client_request r;
        r.url = std::move(url);
        r.headers = {{"Authorization", "Bearer secret"}};
        return r;
    };
    outcome up, down, rel, same;
    c.request(with_auth(plain_srv.url("/to-https")), into(up));
    c.request(with_auth(tls_srv.url("/to-http")), into(down));
    c.request(with_auth(tls_srv.url("/rel")), into(rel)); // "/landing" on https://
    c.request(with_auth(tls_srv.url("/landing")), into(same));
    run_until(lp, {&up, &down, &rel, &same});
    CHECK_FALSE(up.ec);
    CHECK(up.res.body == "https /landing host=localhost:" + std::to_string(tls_srv.port) + " auth=");
    CHECK_FALSE(down.ec);
    CHECK(down.res.body == "http /landing host=localhost:" + std::to_string(plain_srv.port) + " auth=");
    CHECK_FALSE(rel.ec);
    CHECK(rel.res.body ==
          "https /landing host=localhost:" + std::to_string(tls_srv.port) + " auth=Bearer secret");
    CHECK(same.res.body ==
          "https /landing host=localhost:" + std::to_string(tls_srv.port) + " auth=Bearer secret");

    // Without a TLS context, the redirect to https:// is where the request fails.
    http::client bare(lp);
    outcome refused;
    bare.get(plain_srv.url("/to-https"), into(refused));
    run_until(lp, {&refused});
    CHECK(refused.ec == std::errc::protocol_not_supported);
    c.close();
    bare.close();
    tls_srv.close();
    plain_srv.web.close();
}

TEST_CASE("client and fetch: a server that never finishes the handshake hits the connect timeout") {
    loop lp;
    tcp_listener mute(lp); // accepts, then says nothing: the ClientHello goes unanswered
    std::vector<tcp_stream> held;
    REQUIRE_FALSE(mute.listen(endpoint::loopback_v4(0)));
    mute.accept_each([&](std::error_code ec, tcp_stream st) {
        if (!ec) held.push_back(std::move(st));
    });
    std::error_code lec;
    const std::string url = "https://localhost:" + std::to_string(mute.local_endpoint(lec).port()) + "/";
    http::client_settings s;
    s.tls = trusting_test_ca();
    s.connect_timeout = std::chrono::milliseconds(200);
    // Longer, so that a request timeout (which leaves the connection connecting) cannot
    // pass for the connect timeout (which closes it).
    s.request_timeout = std::chrono::seconds(10);
    http::client c(lp, s);
    http::request_options opt;
    opt.tls = s.tls;
    opt.timeout = std::chrono::milliseconds(200);
    outcome pooled, fetched;
    c.get(url, into(pooled));
    http::fetch(lp, url, opt, into(fetched));
    run_until(lp, {&pooled, &fetched});
    CHECK(pooled.ec == sluice::error::timed_out);
    CHECK(c.open_connections() == 0);
    CHECK(fetched.ec == sluice::error::timed_out);
    c.close();
    mute.close();
}
