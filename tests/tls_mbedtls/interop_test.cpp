// mbedTLS against OpenSSL in memory (each adapter's client against the other's server),
// and what only the mbedTLS adapter does itself: address literals checked against the
// certificate's IP names, the suites it allows, session resumption on its server.
#include <sluice/tls/mbedtls.hpp>
#include <sluice/tls/openssl.hpp>

#include "../tls/certs.hpp"
#include "../tls/pair.hpp"

#include <doctest/doctest.h>

using namespace sluice;
using tls_test::cert_file;
using tls_test::pair_run;

namespace {

template <class Server>
std::shared_ptr<Server> server_for(const char* name) {
    auto s = Server::create();
    REQUIRE_FALSE(s->add_certificate_files(cert_file((std::string(name) + ".pem").c_str()),
                                           cert_file((std::string(name) + ".key").c_str())));
    s->set_alpn({"http/1.1"});
    return s;
}
template <class Client>
std::shared_ptr<Client> trusting() {
    auto c = Client::create();
    REQUIRE_FALSE(c->add_ca_file(cert_file("ca.pem")));
    c->set_alpn({"h2", "http/1.1"});
    return c;
}

// A whole conversation between two engines: both directions, then close_notify.
void converse(pair_run& p) {
    REQUIRE(p.cs == tls::handshake_status::done);
    REQUIRE(p.ss == tls::handshake_status::done);
    CHECK(p.client->alpn() == "http/1.1");
    CHECK(p.server->alpn() == "http/1.1");
    CHECK(p.server->server_name() == "localhost");
    CHECK(pair_run::send(*p.client, *p.server, "ping") == "ping");
    std::string big(100000, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    CHECK(pair_run::send(*p.server, *p.client, big) == big);
    p.server->close_notify();
    std::string wire;
    REQUIRE(p.server->take_output(wire) > 0);
    p.client->feed(wire.data(), wire.size());
    char buf[16];
    std::error_code ec;
    CHECK(p.client->read(buf, sizeof buf, ec) == 0);
    CHECK(ec == sluice::error::eof);
    CHECK_FALSE(p.client->transport_eof());
}

mbedtls_ssl_context* mbed(tls::engine& e) { return static_cast<tls::mbedtls::engine&>(e).native_handle(); }
SSL* ossl(tls::engine& e) { return static_cast<tls::openssl::engine&>(e).native_handle(); }

} // namespace

TEST_CASE("mbedtls: an mbedTLS client against an OpenSSL server, over TLS 1.2") {
    auto sctx = server_for<tls::openssl::server_context>("localhost");
    auto cctx = trusting<tls::mbedtls::client_context>();
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    converse(p);
    CHECK(std::string(mbedtls_ssl_get_version(mbed(*p.client))) == "TLSv1.2");
    CHECK(std::string(SSL_get_version(ossl(*p.server))) == "TLSv1.2");
}

TEST_CASE("mbedtls: an OpenSSL client against an mbedTLS server; it resumes its session") {
    auto sctx = server_for<tls::mbedtls::server_context>("localhost");
    auto cctx = trusting<tls::openssl::client_context>();
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    CHECK_FALSE(p.server->session_reused());
    const std::string suite = mbedtls_ssl_get_ciphersuite(mbed(*p.server));
    CHECK(suite.find("ECDHE") != std::string::npos);
    CHECK((suite.find("GCM") != std::string::npos || suite.find("CHACHA20-POLY1305") != std::string::npos));
    converse(p);

    // The same client session again: the server takes it back (ticket or cache), no
    // certificate is sent, and both ends say so.
    SSL_SESSION* saved = SSL_get1_session(ossl(*p.client));
    REQUIRE(saved);
    pair_run again{cctx->make_client("localhost"), sctx->make_server()};
    REQUIRE(SSL_set_session(ossl(*again.client), saved) == 1);
    SSL_SESSION_free(saved);
    again.pump();
    REQUIRE(again.ss == tls::handshake_status::done);
    CHECK(again.server->session_reused());
    CHECK(again.client->session_reused());
    CHECK(pair_run::send(*again.client, *again.server, "resumed") == "resumed");
}

TEST_CASE("mbedtls: a certificate for another name is refused, by name") {
    auto mctx = server_for<tls::mbedtls::server_context>("other");
    auto octx = server_for<tls::openssl::server_context>("other");
    auto cctx = trusting<tls::mbedtls::client_context>();
    for (tls::context* server : {static_cast<tls::context*>(mctx.get()), static_cast<tls::context*>(octx.get())}) {
        pair_run p{cctx->make_client("localhost"), server->make_server()};
        p.pump();
        CHECK(p.cs == tls::handshake_status::failed);
        CHECK(p.client->handshake_error() == tls::error::verify_failed);
        CHECK(p.client->last_error().find("hostname mismatch") != std::string::npos);
        // The chain itself was good: the name alone failed.
        CHECK(mbedtls_ssl_get_verify_result(mbed(*p.client)) == MBEDTLS_X509_BADCERT_CN_MISMATCH);
        CHECK(p.ss != tls::handshake_status::done);
    }
}

TEST_CASE("mbedtls: an address literal is checked against the certificate's IP names") {
    auto sctx = server_for<tls::mbedtls::server_context>("localhost");
    auto cctx = trusting<tls::mbedtls::client_context>();
    pair_run ok{cctx->make_client("127.0.0.1"), sctx->make_server()};
    ok.pump();
    CHECK(ok.cs == tls::handshake_status::done);
    CHECK(ok.server->server_name().empty()); // no SNI for an address (RFC 6066 §3)
    CHECK(ok.client->server_name().empty());

    for (const char* wrong : {"127.0.0.2", "::1"}) {
        CAPTURE(wrong);
        pair_run bad{cctx->make_client(wrong), sctx->make_server()};
        bad.pump();
        CHECK(bad.cs == tls::handshake_status::failed);
        CHECK(bad.client->handshake_error() == tls::error::verify_failed);
        CHECK(bad.client->last_error().find("hostname mismatch") != std::string::npos);
    }
}

TEST_CASE("mbedtls: CBC suites are refused even over TLS 1.2") {
    auto sctx = server_for<tls::mbedtls::server_context>("localhost");
    auto cctx = trusting<tls::openssl::client_context>();
    // An OpenSSL client that offers ECDHE with CBC and nothing else.
    SSL_CTX_set_max_proto_version(cctx->native_handle(), TLS1_2_VERSION);
    REQUIRE(SSL_CTX_set_cipher_list(cctx->native_handle(), "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA") == 1);
    pair_run p{cctx->make_client("localhost"), sctx->make_server()};
    p.pump();
    CHECK(p.ss == tls::handshake_status::failed);
    CHECK(p.cs == tls::handshake_status::failed);
    CHECK_FALSE(p.server->last_error().empty());
}

TEST_CASE("mbedtls: a context for one role makes failing engines for the other") {
    auto sctx = tls::mbedtls::server_context::create(); // and no certificate yet
    auto s = sctx->make_server();
    CHECK(s->handshake() == tls::handshake_status::failed);
    CHECK(s->last_error() == "no certificate configured");
    CHECK(sctx->make_client("localhost")->handshake() == tls::handshake_status::failed);
    CHECK(tls::mbedtls::client_context::create()->make_server()->handshake() == tls::handshake_status::failed);
}

TEST_CASE("mbedtls: a reload leaves the engines made before it on their configuration") {
    auto sctx = server_for<tls::mbedtls::server_context>("localhost");
    auto cctx = trusting<tls::mbedtls::client_context>();
    pair_run before{cctx->make_client("localhost"), sctx->make_server()};
    REQUIRE_FALSE(sctx->replace_certificates({{cert_file("other.pem"), cert_file("other.key")}}));
    pair_run after{cctx->make_client("localhost"), sctx->make_server()};
    before.pump();
    after.pump();
    CHECK(before.cs == tls::handshake_status::done); // still localhost's certificate
    CHECK(after.cs == tls::handshake_status::failed); // other.test's now
    CHECK(after.client->handshake_error() == tls::error::verify_failed);
}
