// sluice — the TLS engine (engine.hpp) on mbedTLS 2.28 (the LTS branch Debian 12 ships):
// opt-in, link -lmbedtls -lmbedx509 -lmbedcrypto. Not included by <sluice.hpp> unless
// SLUICE_WITH_MBEDTLS is defined first; or include <sluice/tls/mbedtls.hpp> itself. mbedTLS
// never sees a socket: its I/O callbacks read from and write to two strings that the engine
// fills from feed() and empties into take_output().
//
//     auto server = tls::mbedtls::server_context::create();
//     server->add_certificate_files("cert.pem", "key.pem");   // first one: the default
//     server->add_certificate_files("b.pem", "b.key");         // chosen when SNI names it
//     server->set_alpn({"http/1.1"});
//     auto client = tls::mbedtls::client_context::create();    // verifies, system CAs
//     client->add_ca_file("test-ca.pem");
//
// The same surface and defaults as the OpenSSL adapter where mbedTLS allows
// (docs/guide/tls.md): TLS 1.2 only (2.28 has no TLS 1.3 server), ECDHE key exchange with
// AEAD ciphers only (forward secrecy; no CBC, no static RSA), no renegotiation. A server
// keeps a session cache and issues session tickets, so clients resume. Each context has its
// own entropy source and CTR-DRBG.
//
// Every setter builds a new mbedtls_ssl_config (a "generation") that owns what it points
// to (certificates, trust, ALPN list); an engine holds the generation it was made from, so
// replace_certificates() and the setters never change a running connection's config.
#pragma once

#include <sluice/tls/engine.hpp>

#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER < 0x021C0000 || MBEDTLS_VERSION_NUMBER >= 0x03000000
// 3.x made the fields used below private, changed mbedtls_pk_parse_key and the version
// setters, and added TLS 1.3: a port, not a guard, so it is refused here rather than guessed.
#error "sluice/tls/mbedtls.hpp is written for mbedTLS 2.28 (LTS)"
#endif

#include <sluice/tls/impl/mbedtls_x509.hpp>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace tls {
namespace mbedtls {

class engine;
class server_context;

namespace detail {

// One entropy pool and one CTR-DRBG seeded from it; thread safe when mbedTLS is built with
// MBEDTLS_THREADING_C (Debian's is), which a context shared by a loop group needs.
struct rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int status;
    rng() {
        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&drbg);
        static const char personal[] = "sluice-tls";
        status = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                       reinterpret_cast<const unsigned char*>(personal), sizeof personal - 1);
    }
    ~rng() {
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&entropy);
    }
    rng(const rng&) = delete;
    rng& operator=(const rng&) = delete;
};

// Forward secrecy and AEAD only (the file comment says why); suites this mbedTLS build
// lacks are skipped by it.
inline const int* cipher_suites() {
    static const int suites[] = {
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        0,
    };
    return suites;
}
// The curves offered for ECDHE: none under 256 bits (the default list has 192 and 224).
inline const mbedtls_ecp_group_id* curves() {
    static const mbedtls_ecp_group_id list[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
        MBEDTLS_ECP_DP_CURVE25519,
#endif
#if defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
        MBEDTLS_ECP_DP_SECP256R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
        MBEDTLS_ECP_DP_SECP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
        MBEDTLS_ECP_DP_SECP521R1,
#endif
        MBEDTLS_ECP_DP_NONE,
    };
    return list;
}

// One configuration and everything it points to; engines keep it alive.
struct generation {
    mbedtls_ssl_config conf;
    std::shared_ptr<rng> random;
    std::vector<std::string> alpn;
    std::vector<const char*> alpn_list; // into alpn, NULL-terminated, as mbedTLS wants
    int status = 0;

    generation(int endpoint_role, std::shared_ptr<rng> r, const std::vector<std::string>& protos)
        : random(std::move(r)), alpn(protos) {
        mbedtls_ssl_config_init(&conf);
        status = random->status;
        if (!status)
            status = mbedtls_ssl_config_defaults(&conf, endpoint_role, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT);
        if (status) return;
        mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &random->drbg);
        mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_ciphersuites(&conf, cipher_suites());
        mbedtls_ssl_conf_curves(&conf, curves());
#if defined(MBEDTLS_SSL_RENEGOTIATION)
        mbedtls_ssl_conf_renegotiation(&conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
        if (!alpn.empty()) {
            for (const std::string& a : alpn) alpn_list.push_back(a.c_str());
            alpn_list.push_back(nullptr);
            status = mbedtls_ssl_conf_alpn_protocols(&conf, alpn_list.data());
        }
    }
    virtual ~generation() { mbedtls_ssl_config_free(&conf); }
    generation(const generation&) = delete;
    generation& operator=(const generation&) = delete;
};

inline std::vector<std::string> alpn_names(std::initializer_list<std::string_view> protos) {
    std::vector<std::string> v;
    for (std::string_view p : protos)
        if (!p.empty() && p.size() <= 255) v.emplace_back(p);
    return v;
}

// The SSL context first, so the context pointer mbedTLS hands to a callback leads back to
// the engine (a standard-layout struct and its first member share an address).
struct conn {
    mbedtls_ssl_context ssl;
    engine* owner;
};

} // namespace detail

// One connection's TLS state; its ciphertext goes through two strings, never a socket.
class engine final : public tls::engine {
  public:
    // `gen` null: every handshake fails with `why` (a context that cannot make this role).
    engine(std::shared_ptr<const detail::generation> gen, std::string why = {})
        : gen_(std::move(gen)), error_(std::move(why)) {
        mbedtls_ssl_init(&c_.ssl);
        c_.owner = this;
        if (!gen_) return;
        if (int r = gen_->status ? gen_->status : mbedtls_ssl_setup(&c_.ssl, &gen_->conf)) {
            error_ = "mbedtls_ssl_setup: " + detail::describe(r);
            return;
        }
        mbedtls_ssl_set_bio(&c_.ssl, this, &engine::send_cb, &engine::recv_cb, nullptr);
        ok_ = true;
    }
    ~engine() override { mbedtls_ssl_free(&c_.ssl); }
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    mbedtls_ssl_context* native_handle() noexcept { return &c_.ssl; }

    void feed(const char* data, std::size_t n) override {
        if (!n) return;
        if (in_pos_ && in_pos_ * 2 >= in_.size()) { // drop what mbedTLS took already
            in_.erase(0, in_pos_);
            in_pos_ = 0;
        }
        in_.append(data, n);
    }

    handshake_status handshake() override {
        if (!ok_ || failed_) {
            failed_ = true;
            return handshake_status::failed;
        }
        if (done_) return handshake_status::done;
        // Stepped here rather than by mbedtls_ssl_handshake() to see which path it takes:
        // only a full handshake passes through the server's Certificate message.
        int r = 0;
        while (c_.ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
            r = mbedtls_ssl_handshake_step(&c_.ssl);
            if (c_.ssl.state == MBEDTLS_SSL_SERVER_CERTIFICATE) full_handshake_ = true;
            if (r) break;
        }
        if (r == 0) {
            done_ = true;
            return handshake_status::done;
        }
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return handshake_status::want_input;
        failed_ = true;
        if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || r == MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED) {
            verify_failed_ = true;
            error_ = "certificate verification: " + detail::verify_words(mbedtls_ssl_get_verify_result(&c_.ssl));
        } else {
            error_ = detail::describe(r);
        }
        return handshake_status::failed;
    }
    bool handshake_done() const noexcept override { return done_; }
    std::error_code handshake_error() const noexcept override {
        return make_error_code(verify_failed_ ? error::verify_failed : error::handshake_failed);
    }

    std::size_t read(char* buf, std::size_t cap, std::error_code& ec) override {
        ec.clear();
        if (!ok_ || !done_ || cap == 0) return 0;
        if (got_close_) {
            ec = sluice::make_error_code(sluice::error::eof);
            return 0;
        }
        if (broken_) { // nothing after a record that failed is trusted
            ec = make_error_code(error::protocol_error);
            return 0;
        }
        const int r = mbedtls_ssl_read(&c_.ssl, reinterpret_cast<unsigned char*>(buf), cap);
        if (r > 0) return static_cast<std::size_t>(r);
        if (r == 0 || r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
        if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            got_close_ = true;
            ec = sluice::make_error_code(sluice::error::eof);
            return 0;
        }
        broken_ = true;
        error_ = detail::describe(r);
        ec = make_error_code(error::protocol_error);
        return 0;
    }

    std::error_code write(const char* data, std::size_t n) override {
        if (!ok_ || !done_ || failed_ || broken_) return make_error_code(error::protocol_error);
        // mbedTLS takes up to one record per call; the output string never refuses bytes,
        // so a call that takes nothing is an error, not a retry.
        while (n) {
            const int r = mbedtls_ssl_write(&c_.ssl, reinterpret_cast<const unsigned char*>(data), n);
            if (r <= 0) {
                broken_ = true;
                error_ = detail::describe(r);
                return make_error_code(error::protocol_error);
            }
            data += r;
            n -= static_cast<std::size_t>(r);
        }
        return {};
    }

    std::size_t take_output(std::string& out) override {
        const std::size_t n = out_.size();
        out.append(out_);
        out_.clear();
        return n;
    }
    bool has_output() const noexcept override { return !out_.empty(); }

    void close_notify() override {
        if (ok_ && done_ && !sent_close_) {
            sent_close_ = true;
            mbedtls_ssl_close_notify(&c_.ssl);
        }
    }
    std::error_code transport_eof() override {
        return got_close_ ? std::error_code() : make_error_code(error::truncated);
    }

    std::string alpn() const override {
        const char* p = ok_ ? mbedtls_ssl_get_alpn_protocol(&c_.ssl) : nullptr;
        return p ? p : "";
    }
    // A server: the name the client sent; a client: the name it sent (none for an address).
    std::string server_name() const override { return name_; }
    bool session_reused() const noexcept override { return done_ && !full_handshake_; }
    std::string last_error() const override { return error_; }

  private:
    friend class server_context;
    friend class client_context;

    static int send_cb(void* self, const unsigned char* buf, std::size_t len) {
        const std::size_t n = len < static_cast<std::size_t>(INT_MAX) ? len : static_cast<std::size_t>(INT_MAX);
        static_cast<engine*>(self)->out_.append(reinterpret_cast<const char*>(buf), n);
        return static_cast<int>(n);
    }
    static int recv_cb(void* self, unsigned char* buf, std::size_t len) {
        auto* e = static_cast<engine*>(self);
        std::size_t n = e->in_.size() - e->in_pos_;
        if (n == 0) return MBEDTLS_ERR_SSL_WANT_READ; // not the end: feed() brings more
        if (n > len) n = len;
        if (n > static_cast<std::size_t>(INT_MAX)) n = static_cast<std::size_t>(INT_MAX);
        std::memcpy(buf, e->in_.data() + e->in_pos_, n);
        e->in_pos_ += n;
        if (e->in_pos_ == e->in_.size()) {
            e->in_.clear();
            e->in_pos_ = 0;
        }
        return static_cast<int>(n);
    }
    // The client's check of an address literal (mbedTLS 2.28 compares names only), at the
    // leaf; a miss is reported as the name mismatch it is.
    static int verify_ip(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
        auto* e = static_cast<engine*>(self);
        if (depth == 0 && !detail::names_ip(*crt, e->ip_)) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
        return 0;
    }

    detail::conn c_{};
    std::shared_ptr<const detail::generation> gen_;
    std::string in_, out_;
    std::size_t in_pos_ = 0;
    std::string name_, ip_, error_;
    bool ok_ = false, done_ = false, failed_ = false, verify_failed_ = false;
    bool got_close_ = false, sent_close_ = false, full_handshake_ = false, broken_ = false;
};

namespace detail {

// What every generation of one server shares: the randomness, the session cache and the
// ticket keys (so a session outlives a certificate reload, as with OpenSSL's context).
struct server_state {
    std::shared_ptr<rng> random = std::make_shared<rng>();
#if defined(MBEDTLS_SSL_CACHE_C)
    mbedtls_ssl_cache_context cache;
#endif
#if defined(MBEDTLS_SSL_TICKET_C)
    mbedtls_ssl_ticket_context tickets;
    int tickets_status = 0;
#endif
    server_state() {
#if defined(MBEDTLS_SSL_CACHE_C)
        mbedtls_ssl_cache_init(&cache);
#endif
#if defined(MBEDTLS_SSL_TICKET_C)
        mbedtls_ssl_ticket_init(&tickets);
        tickets_status = random->status ? random->status
                                        : mbedtls_ssl_ticket_setup(&tickets, mbedtls_ctr_drbg_random, &random->drbg,
                                                                   MBEDTLS_CIPHER_AES_256_GCM, 86400);
#endif
    }
    ~server_state() {
#if defined(MBEDTLS_SSL_TICKET_C)
        mbedtls_ssl_ticket_free(&tickets);
#endif
#if defined(MBEDTLS_SSL_CACHE_C)
        mbedtls_ssl_cache_free(&cache);
#endif
    }
    server_state(const server_state&) = delete;
    server_state& operator=(const server_state&) = delete;
};

struct server_generation final : generation {
    std::shared_ptr<server_state> state;
    std::vector<std::shared_ptr<cert_key>> certs;
    server_generation(std::shared_ptr<server_state> s, std::vector<std::shared_ptr<cert_key>> c,
                      const std::vector<std::string>& protos)
        : generation(MBEDTLS_SSL_IS_SERVER, s->random, protos), state(std::move(s)), certs(std::move(c)) {}
};

struct client_generation final : generation {
    std::shared_ptr<cert_key> trust; // the CA certificates (no key)
    client_generation(std::shared_ptr<rng> r, std::shared_ptr<cert_key> t, const std::vector<std::string>& protos)
        : generation(MBEDTLS_SSL_IS_CLIENT, std::move(r), protos), trust(std::move(t)) {}
};

} // namespace detail

// A server's certificates: the first is the default, the others are chosen by the name
// the client sends (SNI), matched against each certificate's names (wildcards too).
class server_context final : public tls::context {
  public:
    static std::shared_ptr<server_context> create() {
        return std::shared_ptr<server_context>(new server_context());
    }
    ~server_context() override = default;

    // PEM certificate (chain: leaf first) and private key, from files or from memory.
    std::error_code add_certificate_files(const std::string& cert_file, const std::string& key_file) {
        std::lock_guard<std::mutex> g(mutex_);
        std::vector<std::shared_ptr<detail::cert_key>> next = certs_;
        if (auto ec = load_files(cert_file, key_file, next)) return ec;
        return install(std::move(next), alpn_);
    }
    std::error_code add_certificate_pem(std::string_view cert_pem, std::string_view key_pem) {
        std::lock_guard<std::mutex> g(mutex_);
        std::vector<std::shared_ptr<detail::cert_key>> next = certs_;
        if (auto ec = load_pem(std::string(cert_pem), std::string(key_pem), next)) return ec;
        return install(std::move(next), alpn_);
    }
    // Certificate reload without a restart: replaces the whole set (first = default) for
    // the handshakes that start after it; on any error nothing changes.
    std::error_code replace_certificates(
        const std::vector<std::pair<std::string, std::string>>& cert_and_key_files) {
        std::lock_guard<std::mutex> g(mutex_);
        std::vector<std::shared_ptr<detail::cert_key>> next;
        for (const auto& ck : cert_and_key_files)
            if (auto ec = load_files(ck.first, ck.second, next)) return ec;
        if (next.empty()) return make_error_code(error::not_configured);
        return install(std::move(next), alpn_);
    }
    // Protocols offered by ALPN, in our order of preference (e.g. {"http/1.1"}). A client
    // that offers none of them is refused (no_application_protocol alert).
    void set_alpn(std::initializer_list<std::string_view> protos) {
        std::lock_guard<std::mutex> g(mutex_);
        (void)install(certs_, detail::alpn_names(protos));
    }

    std::unique_ptr<tls::engine> make_server() override {
        std::shared_ptr<const detail::server_generation> gen;
        {
            std::lock_guard<std::mutex> g(mutex_);
            gen = gen_;
        }
        if (!gen) return std::make_unique<engine>(nullptr, "no certificate configured");
        return std::make_unique<engine>(std::move(gen));
    }
    std::unique_ptr<tls::engine> make_client(std::string_view) override {
        return std::make_unique<engine>(nullptr, "a server context makes no clients");
    }

    std::string last_error() const {
        std::lock_guard<std::mutex> g(mutex_);
        return error_;
    }

  private:
    server_context() = default;

    std::error_code fail(std::string why) {
        error_ = std::move(why);
        return make_error_code(error::not_configured);
    }

    std::error_code load_files(const std::string& cert_file, const std::string& key_file,
                               std::vector<std::shared_ptr<detail::cert_key>>& into) {
        std::string cert, key;
        if (!detail::read_file(cert_file, cert)) return fail("cannot open " + cert_file);
        if (!detail::read_file(key_file, key)) return fail("cannot open " + key_file);
        return load_pem(cert, key, into);
    }
    std::error_code load_pem(const std::string& cert, const std::string& key,
                             std::vector<std::shared_ptr<detail::cert_key>>& into) {
        auto ck = std::make_shared<detail::cert_key>();
        int r = detail::parse_certs(ck->chain, cert);
        if (r < 0 || ck->chain.version == 0) return fail("no PEM certificate: " + detail::describe(r));
        r = mbedtls_pk_parse_key(&ck->key, reinterpret_cast<const unsigned char*>(key.c_str()), key.size() + 1,
                                 nullptr, 0);
        if (r) return fail("no PEM private key: " + detail::describe(r));
        if ((r = mbedtls_pk_check_pair(&ck->chain.pk, &ck->key)) != 0)
            return fail("the key does not match the certificate: " + detail::describe(r));
        into.push_back(std::move(ck));
        return {};
    }

    // A new configuration for the handshakes to come (under mutex_).
    std::error_code install(std::vector<std::shared_ptr<detail::cert_key>> certs, std::vector<std::string> alpn) {
        certs_ = certs;
        alpn_ = alpn;
        if (certs.empty()) return {};
        auto gen = std::make_shared<detail::server_generation>(state_, std::move(certs), alpn);
        mbedtls_ssl_config& conf = gen->conf;
        int r = gen->status;
        if (!r) r = mbedtls_ssl_conf_own_cert(&conf, &gen->certs.front()->chain, &gen->certs.front()->key);
        if (r) return fail("mbedTLS configuration: " + detail::describe(r));
        mbedtls_ssl_conf_sni(&conf, &server_context::pick_certificate, gen.get());
#if defined(MBEDTLS_SSL_CACHE_C)
        mbedtls_ssl_conf_session_cache(&conf, &state_->cache, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
#endif
#if defined(MBEDTLS_SSL_TICKET_C) && defined(MBEDTLS_SSL_SESSION_TICKETS)
        if (!state_->tickets_status)
            mbedtls_ssl_conf_session_tickets_cb(&conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                                &state_->tickets);
#endif
        gen_ = std::move(gen);
        return {};
    }

    // Runs during each handshake that carries SNI: the first certificate naming it, else
    // the default (the configuration's own certificate).
    static int pick_certificate(void* arg, mbedtls_ssl_context* ssl, const unsigned char* name, std::size_t len) {
        auto* gen = static_cast<const detail::server_generation*>(arg);
        const std::string_view host(reinterpret_cast<const char*>(name), len);
        reinterpret_cast<detail::conn*>(ssl)->owner->name_ = std::string(host);
        for (const auto& ck : gen->certs)
            if (detail::names_host(ck->chain, host)) return mbedtls_ssl_set_hs_own_cert(ssl, &ck->chain, &ck->key);
        return 0;
    }

    mutable std::mutex mutex_;
    std::shared_ptr<detail::server_state> state_ = std::make_shared<detail::server_state>();
    std::vector<std::shared_ptr<detail::cert_key>> certs_;
    std::vector<std::string> alpn_;
    std::shared_ptr<const detail::server_generation> gen_;
    std::string error_;
};

// A client's trust: verification is on by default (the system CA store, and the host name
// given to make_client); add_ca_file() trusts one more CA (a test or private CA).
class client_context final : public tls::context {
  public:
    // Debian's bundle (ca-certificates); mbedTLS has no notion of a default store.
    static constexpr const char* system_ca_file = "/etc/ssl/certs/ca-certificates.crt";

    static std::shared_ptr<client_context> create() {
        return std::shared_ptr<client_context>(new client_context());
    }
    ~client_context() override = default;

    std::error_code add_ca_file(const std::string& pem_file) {
        std::string pem;
        if (!detail::read_file(pem_file, pem)) return fail("cannot open CA file " + pem_file);
        mbedtls_x509_crt probe;
        mbedtls_x509_crt_init(&probe);
        const int r = detail::parse_certs(probe, pem);
        const bool any = probe.version != 0;
        mbedtls_x509_crt_free(&probe);
        if (r != 0 || !any) return fail("cannot load CA file " + pem_file + ": " + detail::describe(r < 0 ? r : 0));
        std::lock_guard<std::mutex> g(mutex_);
        extra_cas_.push_back(std::move(pem));
        trust_.reset();
        gen_.reset();
        return {};
    }
    // Turns certificate verification off: the connection is then encrypted but talks to
    // whoever answers. For tests against self-signed peers only.
    void set_verify(bool on) {
        std::lock_guard<std::mutex> g(mutex_);
        verify_ = on;
        gen_.reset();
    }
    void set_alpn(std::initializer_list<std::string_view> protos) {
        std::lock_guard<std::mutex> g(mutex_);
        alpn_ = detail::alpn_names(protos);
        gen_.reset();
    }

    std::unique_ptr<tls::engine> make_server() override {
        return std::make_unique<engine>(nullptr, "a client context makes no servers");
    }
    std::unique_ptr<tls::engine> make_client(std::string_view host) override {
        auto e = std::make_unique<engine>(current());
        if (!e->ok_) return e;
        const std::string h(host);
        // SNI carries host names only (RFC 6066 §3); mbedTLS checks the certificate against
        // the name it sends, and an address is checked by verify_ip instead.
        if (!h.empty() && !detail::looks_like_ip(h)) {
            e->name_ = h;
            if (int r = mbedtls_ssl_set_hostname(&e->c_.ssl, h.c_str())) {
                e->ok_ = false;
                e->error_ = "mbedtls_ssl_set_hostname: " + detail::describe(r);
            }
        } else if (!h.empty()) {
            e->ip_ = detail::ip_bytes(h);
            mbedtls_ssl_set_verify(&e->c_.ssl, &engine::verify_ip, e.get());
        }
        return e;
    }

    std::string last_error() const {
        std::lock_guard<std::mutex> g(mutex_);
        return error_;
    }

  private:
    client_context() = default;

    std::error_code fail(std::string why) {
        std::lock_guard<std::mutex> g(mutex_);
        error_ = std::move(why);
        return make_error_code(error::not_configured);
    }

    // The configuration for new connections, rebuilt after a setter (parsing the system
    // bundle once, not per setter).
    std::shared_ptr<const detail::generation> current() {
        std::lock_guard<std::mutex> g(mutex_);
        if (gen_) return gen_;
        if (!trust_) {
            auto t = std::make_shared<detail::cert_key>();
            // Certificates mbedTLS cannot parse are skipped (a positive count), not fatal.
            (void)mbedtls_x509_crt_parse_file(&t->chain, system_ca_file);
            for (const std::string& pem : extra_cas_) (void)detail::parse_certs(t->chain, pem);
            trust_ = std::move(t);
        }
        auto gen = std::make_shared<detail::client_generation>(random_, trust_, alpn_);
        mbedtls_ssl_conf_authmode(&gen->conf, verify_ ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
        if (trust_->chain.version != 0) mbedtls_ssl_conf_ca_chain(&gen->conf, &trust_->chain, nullptr);
        gen_ = gen;
        return gen_;
    }

    mutable std::mutex mutex_;
    std::shared_ptr<detail::rng> random_ = std::make_shared<detail::rng>();
    std::vector<std::string> extra_cas_;
    std::shared_ptr<detail::cert_key> trust_;
    std::vector<std::string> alpn_;
    bool verify_ = true;
    std::shared_ptr<const detail::generation> gen_;
    std::string error_;
};

} // namespace mbedtls
} // namespace tls
} // namespace sluice
