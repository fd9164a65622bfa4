// sluice — out-of-line bodies of sluice/ws/server.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/server.hpp>

namespace sluice {
namespace ws {

SLUICE_DECL server& server::on_open(unique_function<void(connection&)> f) {
    sh_->h.on_open = std::move(f);
    return *this;
}

SLUICE_DECL server& server::on_message(unique_function<void(connection&, const message&)> f) {
    sh_->h.on_message = std::move(f);
    return *this;
}

SLUICE_DECL server& server::on_ping(unique_function<void(connection&, std::string_view)> f) {
    sh_->h.on_ping = std::move(f);
    return *this;
}

SLUICE_DECL server& server::on_pong(unique_function<void(connection&, std::string_view)> f) {
    sh_->h.on_pong = std::move(f);
    return *this;
}

SLUICE_DECL server& server::on_close(unique_function<void(connection&, const close_status&)> f) {
    sh_->h.on_close = std::move(f);
    return *this;
}

SLUICE_DECL connection server::upgrade_with(const http::request_view& req, http::response& res,
                                            std::unique_ptr<detail::data_box> data,
                                            std::error_code* ec) {
    std::error_code dummy;
    std::error_code& err = ec ? *ec : dummy;
    std::vector<header_field> fields;
    fields.reserve(static_cast<std::size_t>(req.end() - req.begin()));
    for (const http::header& h : req) fields.push_back({h.name, h.value});
    request_view rv;
    rv.method = req.method();
    rv.version = req.version_minor() >= 1 ? "HTTP/1.1" : "HTTP/1.0";
    rv.headers = header_list(fields);

    std::vector<std::string_view> offered(protocols_.begin(), protocols_.end());
    server_config cfg;
    cfg.subprotocols = string_list(offered.data(), offered.size());
    if (origin_) cfg.check_origin = origin_hook::from(origin_);
    std::unique_ptr<extension> ext;
    std::string ext_header;
    if (sh_->cfg.extensions) {
        ext = sh_->cfg.extensions->accept_offer(rv.headers, ext_header);
        if (ext)
            ext_header = "Sec-WebSocket-Extensions: " + ext_header + "\r\n";
        else
            ext_header.clear(); // declined: nothing to add
        cfg.extra_headers = ext_header;
    }
    server_handshake hs = accept_handshake(rv, cfg);
    if (!hs.ok()) {
        err = hs.ec;
        res.status(static_cast<unsigned>(hs.status)).header("Content-Type", "text/plain");
        if (hs.ec == error::bad_version)
            res.header("Sec-WebSocket-Version", "13").header("Upgrade", "websocket");
        if (hs.ec == error::bad_method) res.header("Allow", "GET");
        res.header("Connection", "close");
        res.end(err.message() + "\n");
        return {};
    }
    http::response::takeover t = res.take_over(hs.response);
    if (t.ec) {
        err = t.ec;
        res.status(500).header("Connection", "close").end();
        return {};
    }
    err = {};
    auto c = sluice::detail::make_ref<detail::conn_impl>(sh_, role::server, std::move(t.stream));
    // The upgraded connection keeps counting towards the http::server's
    // max_connections (and connections()) until it ends.
    c->hold_until_end(std::move(t.slot));
    c->set_extension(std::move(ext));
    if (data) c->set_data(std::move(data));
    connection handle(c.get());
    c->open(std::move(t.rest));
    return handle;
}

SLUICE_DECL std::size_t server::broadcast(opcode op, const void* data, std::size_t n) {
    prepared_message pm;
    if (prepare(op, data, n, pm)) return 0;
    return broadcast(pm);
}

SLUICE_DECL std::size_t server::broadcast(const prepared_message& pm) {
    std::size_t sent = 0;
    for_each([&](connection& c) { sent += c.send(pm) ? 0 : 1; });
    return sent;
}

SLUICE_DECL std::size_t server::publish(std::string_view topic, opcode op, const void* data,
                                        std::size_t n) {
    detail::topic_entry* t = sh_->topics.find(topic);
    if (!t) return 0; // nobody listens: nothing to encode
    prepared_message pm;
    if (prepare(op, data, n, pm)) return 0;
    return detail::publish_to(*sh_, t, pm, nullptr);
}

SLUICE_DECL std::size_t server::publish(std::string_view topic, const prepared_message& pm) {
    return detail::publish_to(*sh_, sh_->topics.find(topic), pm, nullptr);
}

SLUICE_DECL std::size_t server::subscribers(std::string_view topic) const noexcept {
    const detail::topic_entry* t = sh_->topics.find(topic);
    return t ? t->subscribers.size() : 0;
}

SLUICE_DECL std::size_t server::receive_buffer_bytes() const noexcept {
    std::size_t n = 0;
    for (const detail::conn_impl* c = sh_->first; c; c = c->next) n += c->receive_buffer_bytes();
    for (const auto& b : sh_->spares) n += b.capacity();
    return n;
}
} // namespace ws
} // namespace sluice
