// The adapter's engine (adapter.hpp: OpenSSL or mbedTLS) driven in memory: a client engine
// and a server engine pass their output to each other, with no socket, so every case is
// exact and repeatable.
#include "adapter.hpp"

#include "certs.hpp"
#include "pair.hpp"

#include <doctest/doctest.h>

using namespace sluice;
using tls_test::cert_file;
using tls_test::pair_run;
using tls_test::slurp;

namespace {

std::shared_ptr<test_tls_adapter::server_context> localhost_server() {
    auto s = test_tls_adapter::server_context::create();
    REQUIRE_FALSE(s->add_certificate_files(cert_file("localhost.pem"), cert_file("localhost.key")));
    return s;
}
std::shared_ptr<test_tls_adapter::client_context> trusting_client() {
    auto c = test_tls_adapter::client_context::create();
    REQUIRE_FALSE(c->add_ca_file(cert_file("ca.pem")));
    return c;
}

} // namespace

TEST_CASE("tls engine: handshake, data both ways, close_notify") {
    auto sctx = localhost_server();
    auto cctx = trusting_client();
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    REQUIRE(p.cs == tls::handshake_status::done);
    REQUIRE(p.ss == tls::handshake_status::done);
    CHECK(p.server->server_name() == "localhost");

    CHECK(pair_run::send(*p.client, *p.server, "GET / HTTP/1.1\r\n\r\n") == "GET / HTTP/1.1\r\n\r\n");
    std::string big(200000, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    CHECK(pair_run::send(*p.server, *p.client, big) == big);

    // Before close_notify, a transport end is a truncation.
    CHECK(p.server->transport_eof() == tls::error::truncated);
    p.client->close_notify();
    std::string wire;
    REQUIRE(p.client->take_output(wire) > 0);
    p.server->feed(wire.data(), wire.size());
    char buf[16];
    std::error_code ec;
    CHECK(p.server->read(buf, sizeof buf, ec) == 0);
    CHECK(ec == sluice::error::eof);
    CHECK_FALSE(p.server->transport_eof());
}

TEST_CASE("tls engine: TLS 1.2 and 1.3 only, ALPN http/1.1") {
    auto sctx = localhost_server();
    sctx->set_alpn({"http/1.1"});
    auto cctx = trusting_client();
    cctx->set_alpn({"h2", "http/1.1"});
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    REQUIRE(p.cs == tls::handshake_status::done);
    CHECK(p.client->alpn() == "http/1.1");
    CHECK(p.server->alpn() == "http/1.1");
    const std::string v = tls_test::negotiated_version(*p.client);
    CHECK((v == "TLSv1.2" || v == "TLSv1.3"));
    CHECK(tls_test::negotiated_version(*p.server) == v);

    // A client limited to TLS 1.1 is refused.
    auto old = tls_test::tls11_client(cert_file("ca.pem"));
    REQUIRE(old);
    pair_run q{old->make_client("localhost"), sctx->make_server()};
    q.pump();
    CHECK(q.ss == tls::handshake_status::failed);
    CHECK(q.cs == tls::handshake_status::failed);
}

TEST_CASE("tls engine: a certificate for another name is refused by the client") {
    auto sctx = test_tls_adapter::server_context::create();
    REQUIRE_FALSE(sctx->add_certificate_files(cert_file("other.pem"), cert_file("other.key")));
    auto cctx = trusting_client();
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    CHECK(p.cs == tls::handshake_status::failed);
    auto* e = static_cast<test_tls_adapter::engine*>(p.client.get());
    CHECK(e->handshake_error() == tls::error::verify_failed);
    CHECK(p.client->last_error().find("hostname mismatch") != std::string::npos);
    CHECK(p.ss != tls::handshake_status::done);
}

TEST_CASE("tls engine: an untrusted (self-signed) certificate is refused by default") {
    auto sctx = test_tls_adapter::server_context::create();
    REQUIRE_FALSE(sctx->add_certificate_files(cert_file("self.pem"), cert_file("self.key")));
    auto cctx = test_tls_adapter::client_context::create(); // system CAs only
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    CHECK(p.cs == tls::handshake_status::failed);
    CHECK(static_cast<test_tls_adapter::engine*>(p.client.get())->handshake_error() == tls::error::verify_failed);

    // Verification off (explicitly): the same server is accepted.
    auto lax = test_tls_adapter::client_context::create();
    lax->set_verify(false);
    pair_run q{lax->make_client("localhost"), sctx->make_server()};
    q.pump();
    CHECK(q.cs == tls::handshake_status::done);
}

TEST_CASE("tls engine: garbage instead of a ClientHello fails the server handshake") {
    auto sctx = localhost_server();
    auto server = sctx->make_server();
    const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    server->feed(junk.data(), junk.size());
    CHECK(server->handshake() == tls::handshake_status::failed);
    CHECK_FALSE(server->last_error().empty());
    // The engine stays failed; further input changes nothing.
    server->feed(junk.data(), junk.size());
    CHECK(server->handshake() == tls::handshake_status::failed);
    CHECK_FALSE(server->handshake_done());
}

TEST_CASE("tls engine: SNI picks the certificate; certificates from memory; reload") {
    auto sctx = localhost_server();
    REQUIRE_FALSE(sctx->add_certificate_pem(slurp(cert_file("other.pem")), slurp(cert_file("other.key"))));
    auto cctx = trusting_client();
    pair_run a{cctx->make_client("other.test"), sctx->make_server()};
    a.pump();
    CHECK(a.cs == tls::handshake_status::done); // verified as other.test: the SNI choice
    CHECK(a.server->server_name() == "other.test");
    pair_run b{cctx->make_client("localhost"), sctx->make_server()};
    b.pump();
    CHECK(b.cs == tls::handshake_status::done);

    // A key that does not match its certificate is refused, and nothing changes.
    CHECK(sctx->replace_certificates({{cert_file("other.pem"), cert_file("localhost.key")}}) ==
          tls::error::not_configured);
    // Reload: only other.test now, so a client asking for localhost gets other's
    // certificate (the default) and refuses it.
    REQUIRE_FALSE(sctx->replace_certificates({{cert_file("other.pem"), cert_file("other.key")}}));
    pair_run c{cctx->make_client("localhost"), sctx->make_server()};
    c.pump();
    CHECK(c.cs == tls::handshake_status::failed);
}

TEST_CASE("tls engine: a record cut or altered on the wire is an error, not data") {
    auto sctx = localhost_server();
    auto cctx = trusting_client();
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    REQUIRE(p.cs == tls::handshake_status::done);
    std::string text = "secret payload";
    REQUIRE_FALSE(p.client->write(text.data(), text.size()));
    std::string wire;
    p.client->take_output(wire);
    // Half a record: nothing yet, and a transport end now is a truncation.
    p.server->feed(wire.data(), wire.size() / 2);
    char buf[64];
    std::error_code ec;
    CHECK(p.server->read(buf, sizeof buf, ec) == 0);
    CHECK_FALSE(ec);
    CHECK(p.server->transport_eof() == tls::error::truncated);
    // A flipped byte in the rest: the record does not authenticate.
    std::string rest = wire.substr(wire.size() / 2);
    rest[rest.size() - 3] ^= 1;
    p.server->feed(rest.data(), rest.size());
    CHECK(p.server->read(buf, sizeof buf, ec) == 0);
    CHECK(ec == tls::error::protocol_error);
    // A genuine record after it is not delivered: the stream stays failed.
    REQUIRE_FALSE(p.client->write(text.data(), text.size()));
    wire.clear();
    p.client->take_output(wire);
    p.server->feed(wire.data(), wire.size());
    CHECK(p.server->read(buf, sizeof buf, ec) == 0);
    CHECK(ec == tls::error::protocol_error);
    CHECK(p.server->write("x", 1) == tls::error::protocol_error);
}
