// libFuzzer target for the OpenSSL engine adapter (include/sluice/tls/openssl.hpp; link
// -lssl -lcrypto): the glue between our sans-I/O interface and OpenSSL's memory BIOs.
//
// The first input byte picks the mode and how the rest is cut into feed() calls:
//   even: the rest is what a client sent a fresh server engine (a ClientHello or garbage);
//   odd:  a real client and server finish a handshake in memory first, then the rest is
//         fed to the server as records after it (with one genuine record spliced in when
//         bit 1 is set).
// Checked invariants: no out-of-bounds access or leak (sanitizers); read() never returns
// more than asked; a failed handshake stays failed and never reports done; after a read
// error the engine gives no more plaintext; write() before the handshake is refused;
// transport_eof() is clean only after close_notify; every output can be taken.
// fuzz/tls_engine_mbedtls.cpp is this file on the mbedTLS adapter (OpenSSL then only makes
// the certificate).
#include <sluice/tls/openssl.hpp>
#if SLUICE_FUZZ_TLS_MBEDTLS
#include <sluice/tls/mbedtls.hpp>
namespace fuzz_adapter = sluice::tls::mbedtls;
#else
namespace fuzz_adapter = sluice::tls::openssl;
#endif

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace {
using namespace sluice;

void check(bool ok) {
    if (!ok) std::abort();
}

// A throwaway self-signed P-256 certificate, made once in memory.
std::shared_ptr<fuzz_adapter::server_context> make_server() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    BIO* cb = BIO_new(BIO_s_mem());
    BIO* kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, cert);
    PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* cp = nullptr;
    char* kp = nullptr;
    long cn = BIO_get_mem_data(cb, &cp);
    long kn = BIO_get_mem_data(kb, &kp);
    auto ctx = fuzz_adapter::server_context::create();
    check(!ctx->add_certificate_pem(std::string_view(cp, static_cast<std::size_t>(cn)),
                                    std::string_view(kp, static_cast<std::size_t>(kn))));
    ctx->set_alpn({"http/1.1"});
    BIO_free(cb);
    BIO_free(kb);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

std::shared_ptr<fuzz_adapter::server_context>& server() {
    static auto s = make_server();
    return s;
}
std::shared_ptr<fuzz_adapter::client_context>& client() {
    static auto c = [] {
        auto c = fuzz_adapter::client_context::create();
        c->set_verify(false); // the throwaway certificate is trusted by nobody
        return c;
    }();
    return c;
}

// Feeds `data` in pieces whose sizes come from `cut`, stepping the engine after each.
void feed_cut(tls::engine& e, const std::uint8_t* data, std::size_t n, std::uint8_t cut) {
    std::size_t step = 1 + (cut % 7) * 23;
    std::string out;
    bool failed = false;
    for (std::size_t at = 0; at < n;) {
        std::size_t k = n - at < step ? n - at : step;
        e.feed(reinterpret_cast<const char*>(data + at), k);
        at += k;
        if (!e.handshake_done()) {
            tls::handshake_status st = e.handshake();
            if (failed) check(st == tls::handshake_status::failed);
            if (st == tls::handshake_status::failed) {
                failed = true;
                check(!e.handshake_done());
                check(e.handshake_error() == tls::error::handshake_failed ||
                      e.handshake_error() == tls::error::verify_failed);
            }
        }
        if (e.handshake_done()) {
            char buf[300];
            std::error_code ec;
            for (;;) {
                std::size_t got = e.read(buf, sizeof buf, ec);
                check(got <= sizeof buf);
                if (got == 0) break;
            }
            if (ec && ec != sluice::error::eof) {
                check(e.read(buf, sizeof buf, ec) == 0); // nothing after a bad record
            }
        }
        e.take_output(out);
        check(!e.has_output());
        out.clear();
    }
    check(e.transport_eof() != tls::error::protocol_error);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    ++data;
    --size;
    if ((mode & 1) == 0) {
        auto e = server()->make_server();
        const char x = 'x';
        check(static_cast<bool>(e->write(&x, 1))); // no keys yet: refused
        feed_cut(*e, data, size, static_cast<std::uint8_t>(mode >> 1));
        return 0;
    }
    auto c = client()->make_client("localhost");
    auto s = server()->make_server();
    std::string wire;
    for (int round = 0; round < 10 && !(c->handshake_done() && s->handshake_done()); ++round) {
        c->handshake();
        wire.clear();
        c->take_output(wire);
        s->feed(wire.data(), wire.size());
        s->handshake();
        wire.clear();
        s->take_output(wire);
        c->feed(wire.data(), wire.size());
    }
    check(c->handshake_done() && s->handshake_done());
    check(s->transport_eof() == tls::error::truncated);
    if (mode & 2) { // a genuine record first, so the fuzz bytes follow a live sequence
        check(!c->write("ping", 4));
        wire.clear();
        c->take_output(wire);
        s->feed(wire.data(), wire.size());
    }
    feed_cut(*s, data, size, static_cast<std::uint8_t>(mode >> 2));
    return 0;
}
