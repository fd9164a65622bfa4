// sluice — out-of-line bodies of sluice/ws/client.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/client.hpp>

namespace sluice {
namespace ws {
namespace detail {

SLUICE_DECL dial::dial(loop& l, handlers h, client_options o)
    : timer_(l), opt_(std::move(o)), parser_(http::parser::response, msg_) {
    sh_ = sluice::detail::make_ref<shared_state>(l, opt_.settings);
    sh_->h = std::move(h);
    conn_ = sluice::detail::make_ref<conn_impl>(sh_, role::client, tcp_stream(l));
}

SLUICE_DECL void dial::start(std::string_view url) {
    std::string_view rest;
    bool secure = false;
    if (url.size() > 5 && http::detail::iequals(url.substr(0, 5), "ws://")) {
        rest = url.substr(5);
    } else if (url.size() > 6 && http::detail::iequals(url.substr(0, 6), "wss://")) {
        if (!opt_.tls) return later(std::make_error_code(std::errc::protocol_not_supported));
        rest = url.substr(6);
        secure = true;
    } else {
        return later(make_error_code(http::error::bad_url));
    }
    http::detail::url_parts u;
    if (!http::detail::split_url("http://" + std::string(rest), u))
        return later(make_error_code(http::error::bad_url));
    // split_url defaults to http's 80; wss:// without a port means 443.
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    const std::size_t colon = authority.rfind(':');
    const bool port_given = colon != std::string_view::npos &&
                            (authority.find(']') == std::string_view::npos || colon > authority.find(']'));
    if (secure && !port_given) u.port = 443;
    const std::uint16_t default_port = secure ? 443 : 80;

    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != default_port) host += ":" + std::to_string(u.port);
    std::string extra;
    for (auto& h : opt_.headers) {
        if (h.first.find_first_of("\r\n:") != std::string::npos ||
            h.second.find_first_of("\r\n") != std::string::npos)
            return later(make_error_code(http::error::invalid_field));
        extra += h.first + ": " + h.second + "\r\n";
    }
    if (sh_->cfg.extensions) {
        std::string offer;
        sh_->cfg.extensions->make_offer(offer);
        if (!offer.empty()) extra += "Sec-WebSocket-Extensions: " + offer + "\r\n";
        cfg_.extensions_offered = !offer.empty();
    }
    for (const std::string& p : opt_.subprotocols) offered_.push_back(p);
    cfg_.host = host;
    cfg_.target = u.target;
    cfg_.origin = opt_.origin;
    cfg_.subprotocols = string_list(offered_.data(), offered_.size());
    cfg_.extra_headers = extra;
    client_request req = make_client_request(cfg_, sh_->cfg.codec.rng);
    key_ = std::move(req.key);
    request_ = std::move(req.request);
    cfg_.host = cfg_.target = cfg_.origin = cfg_.extra_headers = {}; // locals die here

    timer_.start(opt_.handshake_timeout, [d = dial_ref(this)](std::error_code ec) {
        if (!ec) d->finish(make_error_code(sluice::error::timed_out));
    });
    parser_.response_to(http::verb::get);
    auto connected = [d = dial_ref(this)](std::error_code ec) {
        if (d->done_) return;
        if (ec) return d->finish(ec);
        tcp_stream& st = d->conn_->stream();
        st.set_nodelay(true);
        st.write(std::string_view(d->request_));
        st.read_start([d2 = d](std::error_code e, std::string_view data) { d2->on_data(e, data); });
    };
    if (secure) {
        // The handshake timeout above covers the TLS handshake too.
        tls_options to;
        to.handshake_timeout = std::chrono::milliseconds(0);
        to.connect.timeout = std::chrono::milliseconds(0);
        tls_connect(conn_->stream(), u.host, u.port, opt_.tls, std::move(connected), to);
    } else {
        conn_->stream().connect(u.host, u.port, std::move(connected));
    }
}

SLUICE_DECL void dial::on_data(std::error_code ec, std::string_view d) {
    if (done_) return;
    if (ec)
        return finish(ec == sluice::error::eof ? make_error_code(http::error::unexpected_eof) : ec);
    if (buf_.size() + d.size() > http::limits{}.max_head + 4096)
        return finish(make_error_code(http::error::head_too_large));
    buf_.append(d.data(), d.size());
    http::result r = parser_.feed(buf_.data(), buf_.size());
    if (r.ev == http::event::need_more) return;
    if (r.ev != http::event::head)
        return finish(parser_.error() ? parser_.error() : make_error_code(error::bad_status));
    std::vector<header_field> fields;
    for (std::uint32_t i = 0; i < msg_.num_headers; ++i)
        fields.push_back({msg_.headers[i].name, msg_.headers[i].value});
    response_view rv;
    rv.version = msg_.version_minor >= 1 ? "HTTP/1.1" : "HTTP/1.0";
    rv.status = msg_.status;
    rv.headers = header_list(fields);
    cfg_.subprotocols = string_list(offered_.data(), offered_.size());
    if (std::error_code v = verify_response(rv, key_, cfg_)) return finish(v);
    if (cfg_.extensions_offered) {
        std::error_code xe;
        std::unique_ptr<extension> x = sh_->cfg.extensions->accept_response(rv.headers, xe);
        if (xe) return finish(xe); // an invalid answer fails the connection (RFC 6455 §4.1)
        conn_->set_extension(std::move(x));
    }
    // Frames the server sent right behind its 101 belong to the connection.
    std::string rest = buf_.substr(r.consumed);
    conn_->stream().read_stop();
    finish({}, std::move(rest));
}

SLUICE_DECL void dial::finish(std::error_code ec, std::string rest) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    conn_ref c = std::move(conn_);
    if (ec)
        c->fail_handshake(ec);
    else
        c->open(std::move(rest));
}
} // namespace detail
} // namespace ws
} // namespace sluice

namespace sluice {
namespace ws {

SLUICE_DECL connection connect(loop& l, std::string_view url, handlers h, client_options opt) {
    auto d = sluice::detail::make_ref<detail::dial>(l, std::move(h), std::move(opt));
    connection c = d->handle();
    d->start(url); // from here its handlers hold it
    return c;
}
} // namespace ws
} // namespace sluice
