// The TLS adapter these tests run against: OpenSSL (test_tls) or mbedTLS (test_tls_mbedtls,
// the same sources built with SLUICE_TEST_TLS_MBEDTLS=1), so both keep one contract. Both
// binaries link OpenSSL: it plays the old (TLS 1.1) client either way.
#pragma once

#include <sluice/tls/openssl.hpp>
#if SLUICE_TEST_TLS_MBEDTLS
#include <sluice/tls/mbedtls.hpp>
namespace test_tls_adapter = sluice::tls::mbedtls;
#else
namespace test_tls_adapter = sluice::tls::openssl;
#endif

#include <memory>
#include <string>

namespace tls_test {

// "TLSv1.2" or "TLSv1.3": the version the engine's handshake agreed on.
inline std::string negotiated_version(sluice::tls::engine& e) {
#if SLUICE_TEST_TLS_MBEDTLS
    return mbedtls_ssl_get_version(static_cast<sluice::tls::mbedtls::engine&>(e).native_handle());
#else
    return SSL_get_version(static_cast<sluice::tls::openssl::engine&>(e).native_handle());
#endif
}

// A client that speaks TLS 1.0 and 1.1 only, trusting ca_file.
inline std::shared_ptr<sluice::tls::openssl::client_context> tls11_client(const std::string& ca_file) {
    auto c = sluice::tls::openssl::client_context::create();
    if (c->add_ca_file(ca_file)) return nullptr;
    SSL_CTX_set_min_proto_version(c->native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(c->native_handle(), TLS1_1_VERSION);
    // OpenSSL 3 refuses TLS 1.1 at its default security level before we could.
    SSL_CTX_set_security_level(c->native_handle(), 0);
    return c;
}

} // namespace tls_test
