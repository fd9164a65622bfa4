// sluice — the mbedTLS adapter's X.509 and error helpers (<sluice/tls/mbedtls.hpp> uses
// them): certificates and keys from PEM, the host and address checks mbedTLS 2.28 lacks or
// keeps to itself, and readable words for its error codes.
#pragma once

#include <sluice/platform/endpoint.hpp>

#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace sluice {
namespace tls {
namespace mbedtls {
namespace detail {

// mbedTLS's words for an error code, with the code (its tables are searchable by it).
inline std::string describe(int code) {
    char buf[200] = {};
#if defined(MBEDTLS_ERROR_C)
    mbedtls_strerror(code, buf, sizeof buf);
#endif
    char num[24];
    std::snprintf(num, sizeof num, " (-0x%04x)", static_cast<unsigned>(-code));
    return std::string(buf) + num;
}

// Why verification failed, with OpenSSL's words for the common cases first (so a log or a
// test reads the same on both adapters), then mbedTLS's own list.
inline std::string verify_words(std::uint32_t flags) {
    std::string s;
    if (flags == 0 || flags == UINT32_MAX) return "no certificate checked";
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) s += "hostname mismatch; ";
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) s += "unable to get local issuer certificate; ";
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED) s += "certificate has expired; ";
    char buf[512] = {};
    if (mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags) > 0) {
        for (char* c = buf; *c; ++c)
            if (*c == '\n') *c = ';';
        s += buf;
    }
    return s;
}

// A parsed certificate chain (leaf first) and, for a server, its private key.
struct cert_key {
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    cert_key() {
        mbedtls_x509_crt_init(&chain);
        mbedtls_pk_init(&key);
    }
    ~cert_key() {
        mbedtls_pk_free(&key);
        mbedtls_x509_crt_free(&chain);
    }
    cert_key(const cert_key&) = delete;
    cert_key& operator=(const cert_key&) = delete;
};

inline bool read_file(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream s;
    s << f.rdbuf();
    out = s.str();
    return true;
}

// PEM parsers want the terminating NUL counted in the length.
inline int parse_certs(mbedtls_x509_crt& into, const std::string& pem) {
    return mbedtls_x509_crt_parse(&into, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1);
}

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}
// A certificate's DNS name against a host: exact (any case), or "*.rest" covering exactly
// one leftmost label (RFC 6125 §6.4.3, the common subset).
inline bool dns_matches(std::string_view pattern, std::string_view host) {
    if (iequal(pattern, host)) return true;
    if (pattern.size() < 3 || pattern.substr(0, 2) != "*.") return false;
    const std::size_t dot = host.find('.');
    if (dot == 0 || dot == std::string_view::npos) return false;
    return iequal(pattern.substr(1), host.substr(dot));
}
inline std::string_view as_view(const mbedtls_x509_buf& b) {
    return {reinterpret_cast<const char*>(b.p), b.len};
}
// Does the leaf name `host`: its DNS subject alternative names, or its CN when it has none.
inline bool names_host(const mbedtls_x509_crt& crt, std::string_view host) {
    bool any_dns = false;
    for (const mbedtls_x509_sequence* s = &crt.subject_alt_names; s && s->buf.p; s = s->next) {
        if (s->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME)) continue;
        any_dns = true;
        if (dns_matches(as_view(s->buf), host)) return true;
    }
    if (any_dns) return false;
    for (const mbedtls_x509_name* n = &crt.subject; n; n = n->next)
        if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && dns_matches(as_view(n->val), host))
            return true;
    return false;
}

// mbedTLS 2.28 keeps only DNS and otherName entries of subjectAltName, and checks no IP
// address: the extension is read here from the raw v3 extensions to find iPAddress ([7],
// 4 or 16 bytes in network order).
inline bool names_ip(const mbedtls_x509_crt& crt, const std::string& ip) {
    unsigned char* p = crt.v3_ext.p;
    if (!p) return false;
    const unsigned char* end = p + crt.v3_ext.len;
    std::size_t len = 0;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return false;
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return false;
        const unsigned char* ext_end = p + len;
        mbedtls_x509_buf oid{};
        oid.tag = MBEDTLS_ASN1_OID;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID)) return false;
        oid.p = p;
        p += oid.len;
        int critical = 0;
        (void)mbedtls_asn1_get_bool(&p, ext_end, &critical); // optional
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING)) return false;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
            const unsigned char* names_end = p + len;
            if (mbedtls_asn1_get_tag(&p, names_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
                return false;
            while (p < names_end) {
                const unsigned char tag = *p++;
                std::size_t n = 0;
                if (mbedtls_asn1_get_len(&p, names_end, &n)) return false;
                if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && n == ip.size() && std::memcmp(p, ip.data(), n) == 0)
                    return true;
                p += n;
            }
            return false;
        }
        p = const_cast<unsigned char*>(ext_end);
    }
    return false;
}

inline bool looks_like_ip(std::string_view h) {
    if (h.find(':') != std::string_view::npos) return true; // IPv6
    return !h.empty() && h.find_first_not_of("0123456789.") == std::string_view::npos;
}
// An address literal as the certificate stores it; empty when it does not parse.
inline std::string ip_bytes(std::string_view host) {
    std::error_code ec;
    const endpoint ep = endpoint::parse(host, 0, ec);
    if (ec) return {};
    if (ep.family() == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in*>(ep.data())->sin_addr;
        return std::string(reinterpret_cast<const char*>(&a), 4);
    }
    if (ep.family() == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6*>(ep.data())->sin6_addr;
        return std::string(reinterpret_cast<const char*>(&a), 16);
    }
    return {};
}

} // namespace detail
} // namespace mbedtls
} // namespace tls
} // namespace sluice
