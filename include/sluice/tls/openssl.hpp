// sluice — the TLS engine (engine.hpp) on OpenSSL 3: opt-in, link -lssl -lcrypto. Not included
// by <sluice.hpp> unless SLUICE_WITH_OPENSSL is defined first; or include
// <sluice/tls/openssl.hpp> itself. OpenSSL never sees a socket: it reads and writes two
// memory BIOs that the engine fills from feed() and empties into take_output().
//
//     auto server = tls::openssl::server_context::create();
//     server->add_certificate_files("cert.pem", "key.pem");   // first one: the default
//     server->add_certificate_files("b.pem", "b.key");         // chosen when SNI names it
//     server->set_alpn({"http/1.1"});
//     auto client = tls::openssl::client_context::create();    // verifies, system CAs
//     client->add_ca_file("test-ca.pem");
//
// Defaults (docs/guide/tls.md): TLS 1.2 and 1.3 only; for 1.2 only ECDHE key exchange with
// AEAD ciphers (forward secrecy, no CBC, no RC4, no export or anonymous suites); no
// renegotiation, no compression. A server keeps a session cache and issues TLS 1.3 tickets,
// so clients resume; a client context keeps the last session of each host:port it
// connected to and offers it on the next connection there. Certificates can be replaced
// while serving (replace_certificates): handshakes after the call use the new set, running
// connections keep theirs.
#pragma once

#include <sluice/tls/engine.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace tls {
namespace openssl {

namespace detail {

// The reason OpenSSL queued for the last failure, and the queue emptied (it is per thread
// and would otherwise blame the next connection).
inline std::string drain_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

struct ctx_deleter {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

// Versions and ciphers every context starts from (the top of this file says why).
inline ctx_ptr new_context(const SSL_METHOD* method) {
    ctx_ptr c(SSL_CTX_new(method));
    if (!c) return c;
    SSL_CTX_set_min_proto_version(c.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(c.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cipher_list(c.get(), "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL");
    // Our write() hands over whole buffers; the memory BIO never refuses bytes.
    SSL_CTX_set_mode(c.get(), SSL_MODE_RELEASE_BUFFERS);
    return c;
}

// ALPN wire format: each protocol name prefixed by its length.
inline std::string alpn_wire(std::initializer_list<std::string_view> protos) {
    std::string w;
    for (std::string_view p : protos) {
        if (p.empty() || p.size() > 255) continue;
        w += static_cast<char>(p.size());
        w.append(p.data(), p.size());
    }
    return w;
}

// A client context's sessions: the last one each host:port gave, to resume the next
// connection there. Shared by the context and its engines (a session can arrive after the
// handshake, in TLS 1.3's NewSessionTicket), and by threads when the context is.
class session_store {
  public:
    session_store() = default;
    session_store(const session_store&) = delete;
    session_store& operator=(const session_store&) = delete;
    ~session_store() {
        for (auto& kv : sessions_) SSL_SESSION_free(kv.second);
    }

    // Takes the reference `s` carries.
    void put(const std::string& key, SSL_SESSION* s) {
        std::lock_guard<std::mutex> g(mutex_);
        auto it = sessions_.find(key);
        if (it != sessions_.end()) {
            SSL_SESSION_free(it->second);
            it->second = s;
            return;
        }
        if (sessions_.size() >= max_hosts) { // bounded: some other host's turn to go
            SSL_SESSION_free(sessions_.begin()->second);
            sessions_.erase(sessions_.begin());
        }
        sessions_.emplace(key, s);
    }
    // A session for key (the caller owns a reference), or nullptr. A TLS 1.3 ticket is used
    // once (RFC 8446 C.4: reuse would let an observer link the connections); the
    // connection that uses it gets fresh ones.
    SSL_SESSION* take(const std::string& key) {
        std::lock_guard<std::mutex> g(mutex_);
        auto it = sessions_.find(key);
        if (it == sessions_.end()) return nullptr;
        SSL_SESSION* s = it->second;
        if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION)
            sessions_.erase(it);
        else
            SSL_SESSION_up_ref(s);
        return s;
    }

  private:
    static constexpr std::size_t max_hosts = 256;
    std::mutex mutex_;
    std::map<std::string, SSL_SESSION*> sessions_;
};

} // namespace detail

// One connection's TLS state over two memory BIOs.
class engine final : public tls::engine {
  public:
    // Takes a new SSL from ctx; nullptr-safe: a failed SSL_new makes handshake() fail.
    explicit engine(SSL_CTX* ctx) : ssl_(SSL_new(ctx)) {
        if (!ssl_) return;
        in_ = BIO_new(BIO_s_mem());
        out_ = BIO_new(BIO_s_mem());
        // An empty memory BIO says "retry" rather than "end of file".
        BIO_set_mem_eof_return(in_, -1);
        SSL_set_bio(ssl_, in_, out_); // the SSL owns both now
    }
    ~engine() override {
        if (ssl_) SSL_free(ssl_);
    }
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    SSL* native_handle() const noexcept { return ssl_; }

    // A client's: sessions this connection is given go to `store` under `key` (host:port).
    void keep_sessions(std::shared_ptr<detail::session_store> store, std::string key) {
        if (!ssl_) return;
        sessions_ = std::move(store);
        session_key_ = std::move(key);
        SSL_set_app_data(ssl_, this);
    }
    // OpenSSL's new-session callback (client_context installs it).
    static int on_new_session(SSL* ssl, SSL_SESSION* s) {
        auto* self = static_cast<engine*>(SSL_get_app_data(ssl));
        if (!self || !self->sessions_ || !SSL_SESSION_is_resumable(s)) return 0;
        self->sessions_->put(self->session_key_, s);
        return 1; // the store keeps the reference
    }

    void feed(const char* data, std::size_t n) override {
        if (ssl_ && n) BIO_write(in_, data, static_cast<int>(n));
    }

    handshake_status handshake() override {
        if (!ssl_) {
            error_ = "SSL_new failed: " + detail::drain_errors();
            return handshake_status::failed;
        }
        if (done_) return handshake_status::done;
        int r = SSL_do_handshake(ssl_);
        if (r == 1) {
            done_ = true;
            return handshake_status::done;
        }
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            return handshake_status::want_input;
        }
        long v = SSL_get_verify_result(ssl_);
        std::string why = detail::drain_errors();
        if (v != X509_V_OK) {
            verify_failed_ = true;
            error_ = std::string("certificate verification: ") +
                     X509_verify_cert_error_string(v);
        } else {
            error_ = why.empty() ? "handshake failed" : why;
        }
        return handshake_status::failed;
    }
    bool handshake_done() const noexcept override { return done_; }
    // Why the handshake failed: the certificate, or anything else.
    std::error_code handshake_error() const noexcept override {
        return make_error_code(verify_failed_ ? error::verify_failed : error::handshake_failed);
    }

    std::size_t read(char* buf, std::size_t cap, std::error_code& ec) override {
        ec.clear();
        std::size_t n = 0;
        if (!ssl_ || cap == 0) return 0;
        if (SSL_read_ex(ssl_, buf, cap, &n) == 1) return n;
        switch (SSL_get_error(ssl_, 0)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return 0;
        case SSL_ERROR_ZERO_RETURN:
            ec = sluice::make_error_code(sluice::error::eof);
            return 0;
        default:
            error_ = detail::drain_errors();
            ec = make_error_code(error::protocol_error);
            return 0;
        }
    }

    std::error_code write(const char* data, std::size_t n) override {
        std::size_t done = 0;
        if (!ssl_ || !done_) return make_error_code(error::protocol_error);
        if (n == 0) return {};
        if (SSL_write_ex(ssl_, data, n, &done) == 1 && done == n) return {};
        error_ = detail::drain_errors();
        return make_error_code(error::protocol_error);
    }

    std::size_t take_output(std::string& out) override {
        if (!ssl_) return 0;
        char* p = nullptr;
        long len = BIO_get_mem_data(out_, &p);
        if (len <= 0) return 0;
        out.append(p, static_cast<std::size_t>(len));
        (void)BIO_reset(out_);
        return static_cast<std::size_t>(len);
    }
    bool has_output() const noexcept override { return ssl_ && BIO_ctrl_pending(out_) > 0; }

    void close_notify() override {
        if (ssl_ && done_ && !(SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) SSL_shutdown(ssl_);
        ERR_clear_error();
    }

    std::error_code transport_eof() override {
        if (ssl_ && (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN)) return {};
        return make_error_code(error::truncated);
    }

    std::string alpn() const override {
        const unsigned char* p = nullptr;
        unsigned int n = 0;
        if (ssl_) SSL_get0_alpn_selected(ssl_, &p, &n);
        return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
    }
    std::string server_name() const override {
        const char* n = ssl_ ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
        return n ? n : "";
    }
    bool session_reused() const noexcept override { return ssl_ && SSL_session_reused(ssl_); }
    std::string last_error() const override { return error_; }

  private:
    SSL* ssl_;
    BIO* in_ = nullptr;
    BIO* out_ = nullptr;
    bool done_ = false;
    bool verify_failed_ = false;
    std::string error_;
    std::shared_ptr<detail::session_store> sessions_;
    std::string session_key_;
};

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
        std::vector<loaded> next = current_copy();
        if (auto ec = load_files(cert_file, key_file, next)) return ec;
        install(std::move(next));
        return {};
    }
    std::error_code add_certificate_pem(std::string_view cert_pem, std::string_view key_pem) {
        std::vector<loaded> next = current_copy();
        if (auto ec = load_pem(cert_pem, key_pem, next)) return ec;
        install(std::move(next));
        return {};
    }
    // Certificate reload without a restart: replaces the whole set (first = default) for
    // the handshakes that start after it; on any error nothing changes.
    std::error_code replace_certificates(
        const std::vector<std::pair<std::string, std::string>>& cert_and_key_files) {
        std::vector<loaded> next;
        for (const auto& ck : cert_and_key_files)
            if (auto ec = load_files(ck.first, ck.second, next)) return ec;
        if (next.empty()) return make_error_code(error::not_configured);
        install(std::move(next));
        return {};
    }
    // Protocols offered by ALPN, in our order of preference (e.g. {"http/1.1"}). A client
    // that offers none of them is refused (no_application_protocol alert).
    void set_alpn(std::initializer_list<std::string_view> protos) { alpn_ = detail::alpn_wire(protos); }

    std::unique_ptr<tls::engine> make_server() override {
        auto e = std::make_unique<engine>(ctx_.get());
        if (SSL* s = e->native_handle()) SSL_set_accept_state(s);
        return e;
    }
    std::unique_ptr<tls::engine> make_client(std::string_view) override {
        return std::make_unique<engine>(nullptr); // a server context makes no clients
    }

    SSL_CTX* native_handle() const noexcept { return ctx_.get(); }
    std::string last_error() const { return error_; }

  private:
    struct loaded {
        std::shared_ptr<X509> cert;
        std::shared_ptr<EVP_PKEY> key;
        std::shared_ptr<STACK_OF(X509)> chain;
    };

    server_context() : ctx_(detail::new_context(TLS_server_method())) {
        if (!ctx_) return;
        SSL_CTX_set_session_id_context(ctx_.get(), reinterpret_cast<const unsigned char*>("sluice"), 6);
        SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_cert_cb(ctx_.get(), &server_context::pick_certificate, this);
        SSL_CTX_set_alpn_select_cb(ctx_.get(), &server_context::select_alpn, this);
    }

    std::vector<loaded> current_copy() {
        std::lock_guard<std::mutex> g(mutex_);
        return certs_ ? *certs_ : std::vector<loaded>{};
    }
    void install(std::vector<loaded> next) {
        auto p = std::make_shared<const std::vector<loaded>>(std::move(next));
        std::lock_guard<std::mutex> g(mutex_);
        // The very first certificate (the default) also goes into the context, before any
        // handshake can run, so each new connection starts with it and pick_certificate
        // has nothing to do for it: SSL_use_cert_and_key per handshake cost about 1% of a
        // handshake's instructions. A reload never touches the context (connections are
        // being made from it); its certificates are set per handshake instead.
        if (!certs_ && p->size() == 1) {
            const loaded& d = p->front();
            SSL_CTX_use_cert_and_key(ctx_.get(), d.cert.get(), d.key.get(), d.chain.get(), 1);
        }
        certs_ = std::move(p);
    }

    std::error_code load_files(const std::string& cert_file, const std::string& key_file,
                               std::vector<loaded>& into) {
        std::shared_ptr<BIO> cb(BIO_new_file(cert_file.c_str(), "r"), BIO_free);
        std::shared_ptr<BIO> kb(BIO_new_file(key_file.c_str(), "r"), BIO_free);
        if (!cb || !kb) {
            error_ = "cannot open " + (cb ? key_file : cert_file) + ": " + detail::drain_errors();
            return make_error_code(error::not_configured);
        }
        return load(cb.get(), kb.get(), into);
    }
    std::error_code load_pem(std::string_view cert_pem, std::string_view key_pem,
                             std::vector<loaded>& into) {
        std::shared_ptr<BIO> cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
        std::shared_ptr<BIO> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
        return load(cb.get(), kb.get(), into);
    }
    std::error_code load(BIO* cb, BIO* kb, std::vector<loaded>& into) {
        loaded l;
        l.cert.reset(PEM_read_bio_X509(cb, nullptr, nullptr, nullptr), X509_free);
        l.key.reset(PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr), EVP_PKEY_free);
        l.chain.reset(sk_X509_new_null(), [](STACK_OF(X509)* s) { sk_X509_pop_free(s, X509_free); });
        while (X509* extra = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr))
            sk_X509_push(l.chain.get(), extra);
        ERR_clear_error(); // the loop above ends on "no start line"
        if (!l.cert || !l.key) {
            error_ = "no PEM certificate or key";
            return make_error_code(error::not_configured);
        }
        if (X509_check_private_key(l.cert.get(), l.key.get()) != 1) {
            error_ = "the key does not match the certificate: " + detail::drain_errors();
            return make_error_code(error::not_configured);
        }
        into.push_back(std::move(l));
        return {};
    }

    // Runs during each handshake, once the ClientHello (and its SNI) is known.
    static int pick_certificate(SSL* ssl, void* arg) {
        auto* self = static_cast<server_context*>(arg);
        std::shared_ptr<const std::vector<loaded>> certs;
        {
            std::lock_guard<std::mutex> g(self->mutex_);
            certs = self->certs_;
        }
        if (!certs || certs->empty()) return 0;
        const loaded* pick = &certs->front();
        if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
            for (const loaded& l : *certs) {
                if (X509_check_host(l.cert.get(), name, 0, 0, nullptr) == 1) {
                    pick = &l;
                    break;
                }
            }
        }
        if (SSL_get_certificate(ssl) == pick->cert.get()) return 1; // the context's default
        return SSL_use_cert_and_key(ssl, pick->cert.get(), pick->key.get(), pick->chain.get(), 1) == 1;
    }

    static int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                           const unsigned char* in, unsigned int inlen, void* arg) {
        auto* self = static_cast<server_context*>(arg);
        if (self->alpn_.empty()) return SSL_TLSEXT_ERR_NOACK; // no ALPN configured: ignore it
        unsigned char* chosen = nullptr;
        const auto* ours = reinterpret_cast<const unsigned char*>(self->alpn_.data());
        if (SSL_select_next_proto(&chosen, outlen, ours, static_cast<unsigned>(self->alpn_.size()),
                                  in, inlen) != OPENSSL_NPN_NEGOTIATED)
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }

    detail::ctx_ptr ctx_;
    std::mutex mutex_;
    std::shared_ptr<const std::vector<loaded>> certs_;
    std::string alpn_;
    std::string error_;
};

// A client's trust: verification is on by default (the system CA store, and the host name
// given to make_client); add_ca_file() trusts one more CA (a test or private CA).
class client_context final : public tls::context {
  public:
    static std::shared_ptr<client_context> create() {
        return std::shared_ptr<client_context>(new client_context());
    }
    ~client_context() override = default;

    std::error_code add_ca_file(const std::string& pem_file) {
        if (SSL_CTX_load_verify_locations(ctx_.get(), pem_file.c_str(), nullptr) == 1) return {};
        error_ = "cannot load CA file " + pem_file + ": " + detail::drain_errors();
        return make_error_code(error::not_configured);
    }
    // Turns certificate verification off: the connection is then encrypted but talks to
    // whoever answers. For tests against self-signed peers only.
    void set_verify(bool on) { verify_ = on; }
    // Session resumption (on by default): the last session of each host:port is offered
    // on the next connection there, which then skips the certificate exchange.
    void set_resumption(bool on) { resume_ = on; }
    void set_alpn(std::initializer_list<std::string_view> protos) { alpn_ = detail::alpn_wire(protos); }

    std::unique_ptr<tls::engine> make_server() override {
        return std::make_unique<engine>(nullptr); // a client context makes no servers
    }
    std::unique_ptr<tls::engine> make_client(std::string_view host) override {
        auto e = std::make_unique<engine>(ctx_.get());
        SSL* s = e->native_handle();
        if (!s) return e;
        SSL_set_connect_state(s);
        const std::string h(host);
        const bool is_ip = looks_like_ip(h);
        // SNI carries host names only (RFC 6066 §3).
        if (!h.empty() && !is_ip) SSL_set_tlsext_host_name(s, h.c_str());
        if (!alpn_.empty())
            SSL_set_alpn_protos(s, reinterpret_cast<const unsigned char*>(alpn_.data()),
                                static_cast<unsigned>(alpn_.size()));
        if (verify_) {
            SSL_set_verify(s, SSL_VERIFY_PEER, nullptr);
            X509_VERIFY_PARAM* param = SSL_get0_param(s);
            if (is_ip)
                X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str());
            else
                SSL_set1_host(s, h.c_str());
        } else {
            SSL_set_verify(s, SSL_VERIFY_NONE, nullptr);
        }
        return e;
    }
    // As make_client, and resumes the last session of host:port when there is one.
    std::unique_ptr<tls::engine> make_client_for(std::string_view host, std::uint16_t port) override {
        std::unique_ptr<tls::engine> e = make_client(host);
        auto* oe = static_cast<engine*>(e.get());
        SSL* s = oe->native_handle();
        if (!s || !resume_) return e;
        std::string key = std::string(host) + ":" + std::to_string(port);
        if (SSL_SESSION* old = sessions_->take(key)) {
            SSL_set_session(s, old); // takes its own reference
            SSL_SESSION_free(old);
        }
        oe->keep_sessions(sessions_, std::move(key));
        return e;
    }

    SSL_CTX* native_handle() const noexcept { return ctx_.get(); }
    std::string last_error() const { return error_; }

  private:
    client_context()
        : ctx_(detail::new_context(TLS_client_method())),
          sessions_(std::make_shared<detail::session_store>()) {
        if (!ctx_) return;
        SSL_CTX_set_default_verify_paths(ctx_.get());
        // Sessions live in our store, keyed by host:port, not in OpenSSL's cache (keyed by
        // session id, which a client cannot look up by server).
        SSL_CTX_set_session_cache_mode(ctx_.get(),
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx_.get(), &engine::on_new_session);
    }
    static bool looks_like_ip(const std::string& h) {
        if (h.find(':') != std::string::npos) return true; // IPv6
        return !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
    }

    detail::ctx_ptr ctx_;
    std::shared_ptr<detail::session_store> sessions_;
    bool verify_ = true, resume_ = true;
    std::string alpn_;
    std::string error_;
};

} // namespace openssl
} // namespace tls
} // namespace sluice
