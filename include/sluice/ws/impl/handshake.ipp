// sluice — out-of-line bodies of sluice/ws/handshake.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/handshake.hpp>

namespace sluice {
namespace ws {

SLUICE_DECL std::string compute_accept(std::string_view key) {
    util::sha1 s;
    s.update(key);
    s.update(websocket_guid);
    const auto d = s.finish();
    return util::base64_encode(d.data(), d.size());
}
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {
namespace detail {

SLUICE_DECL const char* reason_phrase(int status) noexcept {
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 405:
        return "Method Not Allowed";
    case 426:
        return "Upgrade Required";
    default:
        return "Error";
    }
}

SLUICE_DECL server_handshake reject(error e) {
    server_handshake r;
    r.ec = make_error_code(e);
    r.status = http_status_for(e);
    r.response = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
    if (e == error::bad_version)
        r.response += "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
    if (e == error::bad_method) r.response += "Allow: GET\r\n";
    r.response += "Connection: close\r\nContent-Length: 0\r\n\r\n";
    return r;
}
} // namespace detail
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {

SLUICE_DECL server_handshake accept_handshake(const request_view& req, const server_config& cfg) {
    const header_list& h = req.headers;
    if (req.method != "GET") return detail::reject(error::bad_method);
    if (!is_http11_or_later(req.version)) return detail::reject(error::bad_http_version);
    if (h.count("Host") != 1 || h.get("Host").empty()) return detail::reject(error::missing_host);
    if (!h.has_token("Upgrade", "websocket")) return detail::reject(error::missing_upgrade);
    if (!h.has_token("Connection", "upgrade"))
        return detail::reject(error::missing_connection_upgrade);
    if (h.count("Sec-WebSocket-Key") != 1) return detail::reject(error::bad_key);
    const std::string_view key = h.get("Sec-WebSocket-Key");
    std::uint8_t raw[18];
    std::size_t raw_len = 0;
    if (key.size() != 24 || !util::base64_decode(key, raw, raw_len) || raw_len != 16)
        return detail::reject(error::bad_key);
    if (h.count("Sec-WebSocket-Version") != 1 || h.get("Sec-WebSocket-Version") != "13")
        return detail::reject(error::bad_version);
    if (cfg.check_origin.fn != nullptr &&
        !cfg.check_origin.fn(cfg.check_origin.ctx, h.get("Origin")))
        return detail::reject(error::origin_rejected);

    server_handshake r;
    for (std::size_t i = 0; i < cfg.subprotocols.size && r.subprotocol.empty(); ++i) {
        const std::string_view want = cfg.subprotocols.data[i];
        h.for_each_element("Sec-WebSocket-Protocol", [&](std::string_view el) {
            if (el != want) return false;
            r.subprotocol = el;
            return true;
        });
    }
    r.status = 101;
    r.response.reserve(160 + cfg.extra_headers.size());
    r.response += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    r.response += compute_accept(key);
    r.response += "\r\n";
    if (!r.subprotocol.empty()) {
        r.response += "Sec-WebSocket-Protocol: ";
        r.response += r.subprotocol;
        r.response += "\r\n";
    }
    r.response += cfg.extra_headers;
    r.response += "\r\n";
    return r;
}

SLUICE_DECL client_request make_client_request(const client_config& cfg, random_source rng) {
    std::uint8_t nonce[16];
    rng(nonce, sizeof nonce);
    client_request r;
    r.key = util::base64_encode(nonce, sizeof nonce);
    std::string& q = r.request;
    q.reserve(160 + cfg.host.size() + cfg.target.size() + cfg.extra_headers.size());
    q += "GET ";
    q += cfg.target.empty() ? std::string_view("/") : cfg.target;
    q += " HTTP/1.1\r\nHost: ";
    q += cfg.host;
    q += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    q += r.key;
    q += "\r\nSec-WebSocket-Version: 13\r\n";
    if (!cfg.origin.empty()) {
        q += "Origin: ";
        q += cfg.origin;
        q += "\r\n";
    }
    if (cfg.subprotocols.size != 0) {
        q += "Sec-WebSocket-Protocol: ";
        for (std::size_t i = 0; i < cfg.subprotocols.size; ++i) {
            if (i) q += ", ";
            q += cfg.subprotocols.data[i];
        }
        q += "\r\n";
    }
    q += cfg.extra_headers;
    q += "\r\n";
    return r;
}

SLUICE_DECL std::error_code verify_response(const response_view& res, std::string_view key,
                                            const client_config& cfg,
                                            std::string_view* subprotocol) {
    const header_list& h = res.headers;
    if (!is_http11_or_later(res.version) || res.status != 101) return error::bad_status;
    if (!h.has_token("Upgrade", "websocket")) return error::missing_upgrade;
    if (!h.has_token("Connection", "upgrade")) return error::missing_connection_upgrade;
    if (h.count("Sec-WebSocket-Accept") != 1 ||
        h.get("Sec-WebSocket-Accept") != compute_accept(key))
        return error::bad_accept;
    if (!cfg.extensions_offered && h.count("Sec-WebSocket-Extensions") != 0)
        return error::unexpected_extension;
    std::string_view chosen;
    const std::size_t np = h.count("Sec-WebSocket-Protocol");
    if (np > 1) return error::unexpected_subprotocol;
    if (np == 1) {
        chosen = h.get("Sec-WebSocket-Protocol");
        if (chosen.empty() || !cfg.subprotocols.contains(chosen))
            return error::unexpected_subprotocol;
    }
    if (subprotocol) *subprotocol = chosen;
    return {};
}
} // namespace ws
} // namespace sluice
