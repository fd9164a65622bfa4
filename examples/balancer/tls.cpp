// HTTPS for http mode: the TLS server context from --tls-cert/--tls-key, and the plain
// HTTP listener of --redirect-http that sends every request to the https:// address.
#include "balancer.hpp"

#include <cctype>
#include <string>

namespace balancer_app {

std::shared_ptr<sluice::tls::context> make_tls_context(const options& o, std::string& error) {
#if defined(SLUICE_WITH_OPENSSL)
    auto ctx = sluice::tls::openssl::server_context::create();
    for (std::size_t i = 0; i < o.tls_cert.size(); ++i) {
        if (ctx->add_certificate_files(o.tls_cert[i], o.tls_key[i])) {
            error = o.tls_cert[i] + ", " + o.tls_key[i] + ": " + ctx->last_error();
            return nullptr;
        }
    }
    ctx->set_alpn({"http/1.1"}); // what the backends speak, and all the relay knows
    return ctx;
#else
    (void)o;
    error = "built without TLS (configure with -DSLUICE_WITH_OPENSSL=ON)";
    return nullptr;
#endif
}

namespace {

// RFC 3986 reg-name / IPv4address characters (unreserved, pct-encoded, sub-delims):
// whatever else a Host header holds does not go into a Location we send.
bool host_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
}

bool all_digits(std::string_view s) {
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

// "name", "name:port", "[v6]", "[v6]:port" -> the host without the port ("" if malformed).
std::string_view strip_port(std::string_view authority) {
    std::string_view host = authority, rest;
    if (!authority.empty() && authority[0] == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos || close < 2) return {};
        host = authority.substr(0, close + 1);
        rest = authority.substr(close + 1);
        for (char c : host.substr(1, close - 1))
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return {};
    } else {
        std::size_t colon = authority.find(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            rest = authority.substr(colon);
        }
        for (char c : host)
            if (!host_char(c)) return {};
    }
    if (!rest.empty() && (rest[0] != ':' || !all_digits(rest.substr(1)))) return {};
    return host;
}

} // namespace

bool https_location(std::string_view host, std::string_view target, std::uint16_t tls_port,
                    std::string& out) {
    std::string_view path = target;
    // An absolute-form target names the host itself, and wins over Host (RFC 9112 3.2.2).
    std::size_t scheme_end = target.find("://");
    if (!target.empty() && target[0] != '/' && scheme_end != std::string_view::npos) {
        std::string_view after = target.substr(scheme_end + 3);
        std::size_t end = after.find_first_of("/?");
        host = after.substr(0, end);
        path = end == std::string_view::npos ? std::string_view() : after.substr(end);
    } else if (target == "*") { // OPTIONS *: the server as a whole
        path = {};
    } else if (target.empty() || target[0] != '/') {
        return false; // authority-form (CONNECT): no path to redirect to
    }
    std::string_view name = strip_port(host);
    if (name.empty()) return false;
    out = "https://";
    out.append(name.data(), name.size());
    if (tls_port != 443) out += ":" + std::to_string(tls_port);
    if (path.empty() || path[0] == '?') out += '/';
    out.append(path.data(), path.size());
    return true;
}

namespace {

// A request body the redirect does not need: read and dropped up to this much, so the
// connection can carry the next request; past it the answer says Connection: close.
constexpr std::uint64_t redirect_body_cap = 1 << 20;

struct redirect_answer {
    http::response res;
    http::body_reader body;
    unsigned status;
    std::string location;
    std::uint64_t skipped = 0;
};

void send_answer(redirect_answer& a, bool close) {
    a.res.status(a.status).header("Content-Type", "text/plain");
    if (!a.location.empty()) a.res.header("Location", a.location);
    if (close) a.res.header("Connection", "close");
    a.res.end(a.status == 301 ? "Moved Permanently\n" : "Bad Request\n");
}

// Answers once the body is over (read to its end, failed, or past the cap). Answering
// first and leaving the rest unread would make the server close after the answer with
// nothing in it to say so, and a keep-alive client's next request would meet the close.
void skip_body_then_answer(std::shared_ptr<redirect_answer> a) {
    a->body.read([a](std::error_code ec, std::string_view chunk) {
        if (!ec) {
            a->skipped += chunk.size();
            if (a->skipped <= redirect_body_cap) return skip_body_then_answer(a);
        }
        send_answer(*a, ec != sluice::error::eof);
    });
}

} // namespace

std::error_code start_redirect(balancer& lb) {
    lb.redirect = std::make_unique<http::server>(lb.loop);
    const std::uint16_t tls_port = lb.opt.listen.port();
    // The stream form, so that a body is skipped as it comes instead of buffered whole.
    lb.redirect->on_request_stream(
        [tls_port](const http::request_view& req, http::body_reader& body, http::response& res) {
            auto a = std::make_shared<redirect_answer>();
            std::size_t hosts = 0;
            for (const http::header& h : req)
                if (http::detail::iequals(h.name, "host")) ++hosts;
            // RFC 9112 3.2: no Host, or more than one, or one that is not a host: 400.
            a->status = hosts == 1 && https_location(req.get("host"), req.target(), tls_port,
                                                     a->location)
                            ? 301
                            : 400;
            if (a->status != 301) a->location.clear();
            a->res = std::move(res);
            if (!req.msg().has_body()) return send_answer(*a, false);
            a->body = std::move(body);
            skip_body_then_answer(std::move(a));
        });
    sluice::endpoint ep = lb.opt.listen;
    ep.set_port(static_cast<std::uint16_t>(lb.opt.redirect_http_port));
    return lb.redirect->listen(ep);
}

} // namespace balancer_app
