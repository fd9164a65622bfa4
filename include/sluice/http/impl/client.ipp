// sluice — out-of-line bodies of sluice/http/client.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/client.hpp>

namespace sluice::http {
namespace detail {

SLUICE_DECL bool split_url(std::string_view url, url_parts& out) {
    constexpr std::string_view plain = "http://", secure = "https://";
    if (url.size() > plain.size() && iequals(url.substr(0, plain.size()), plain)) {
        url.remove_prefix(plain.size());
    } else if (url.size() > secure.size() && iequals(url.substr(0, secure.size()), secure)) {
        url.remove_prefix(secure.size());
        out.secure = true;
        out.port = 443;
    } else {
        return false;
    }
    std::size_t slash = url.find_first_of("/?");
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) {
        out.target = std::string(url.substr(slash));
        if (out.target[0] == '?') out.target.insert(0, "/");
    }
    std::string_view port;
    if (!authority.empty() && authority[0] == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return false;
        out.host = std::string(authority.substr(1, close - 1));
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return false;
            port = authority.substr(close + 2);
        }
    } else {
        std::size_t colon = authority.find(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (out.host.empty()) return false;
    if (port.data() != nullptr) {
        if (port.empty()) return false;
        unsigned long v = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + static_cast<unsigned long>(c - '0');
            if (v > 65535) return false;
        }
        out.port = static_cast<std::uint16_t>(v);
    }
    return true;
}

SLUICE_DECL std::string authority_of(const url_parts& u) {
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != (u.secure ? 443 : 80)) host += ":" + std::to_string(u.port);
    return host;
}

SLUICE_DECL void fetch_op::start(const url_parts& u) {
    parser_.response_to(to_verb(opt_.method));
    timer_.start(opt_.timeout, [self = op_ref(this)](std::error_code ec) {
        if (!ec) self->finish(make_error_code(sluice::error::timed_out));
    });
    if (u.secure && !opt_.tls) return finish(std::make_error_code(std::errc::protocol_not_supported));
    serializer<std::string> s(request_);
    s.request_line(opt_.method, u.target);
    s.header("Host", authority_of(u)).header("Connection", "close");
    for (auto& h : opt_.headers) s.header(h.first, h.second);
    if (!opt_.body.empty()) s.content_length(opt_.body.size());
    s.end_head();
    if (auto ec = s.error()) return finish(ec);
    request_ += opt_.body;
    auto connected = [self = op_ref(this)](std::error_code ec) {
        if (!self->handler_) return; // finished meanwhile (timed out)
        if (ec) return self->finish(ec);
        self->stream_.write(self->request_);
        self->stream_.read_start(
            [self](std::error_code e, std::string_view data) { self->on_data(e, data); });
    };
    if (!u.secure) return stream_.connect(u.host, u.port, std::move(connected));
    // opt_.timeout covers the handshake as it covers the rest; the certificate is checked
    // against the URL's host, which also goes out as SNI.
    tls_options to;
    to.handshake_timeout = std::chrono::milliseconds(0);
    tls_connect(stream_, u.host, u.port, opt_.tls, std::move(connected), to);
}

SLUICE_DECL void fetch_op::on_data(std::error_code ec, std::string_view data) {
    if (!handler_) return;
    if (ec && ec != sluice::error::eof) return finish(ec);
    if (!ec) buf_.append(data); // at most one read past the limit, checked below
    std::size_t off = 0;
    for (;;) {
        result r = ec ? parser_.finish(buf_.data() + off, buf_.size() - off)
                      : parser_.feed(buf_.data() + off, buf_.size() - off);
        off += r.consumed;
        switch (r.ev) {
        case event::head:
            head_bytes_ = r.consumed;
            res_.status = msg_.status;
            res_.reason = std::string(msg_.reason);
            for (std::uint32_t i = 0; i < msg_.num_headers; ++i)
                res_.headers.emplace_back(std::string(msg_.headers[i].name),
                                          std::string(msg_.headers[i].value));
            continue;
        case event::body:
            // The limit covers the whole response as collected: fail as soon as a
            // piece of body would take it past.
            if (head_bytes_ + res_.body.size() + r.data.size() > opt_.max_response)
                return finish(make_error_code(error::body_too_large));
            res_.body.append(r.data);
            continue;
        case event::done:
            if (res_.status >= 100 && res_.status < 200) { // interim: the real answer follows
                res_ = client_response{};
                head_bytes_ = 0;
                continue;
            }
            return finish({});
        case event::error:
            return finish(parser_.error());
        case event::upgrade:
            return finish(std::make_error_code(std::errc::protocol_not_supported));
        case event::need_more:
            break;
        }
        break;
    }
    buf_.erase(0, off);
    if (held() > opt_.max_response) return finish(make_error_code(error::body_too_large));
    if (ec) finish(make_error_code(error::unexpected_eof));
}

SLUICE_DECL void fetch_op::finish(std::error_code ec) {
    if (!handler_) return;
    fetch_handler h = std::move(handler_);
    timer_.cancel();
    stream_.close();
    client_response res = std::move(res_);
    loop* l = stream_.get_loop();
    // Report from the loop, never inside the call that finished (start() may).
    l->defer([self = op_ref(this), h = std::move(h), ec, res = std::move(res)]() mutable {
        h(ec, std::move(res));
    });
}
} // namespace detail
} // namespace sluice::http

namespace sluice::http {

SLUICE_DECL void fetch(loop& l, std::string_view url, request_options opt, fetch_handler handler) {
    detail::url_parts u;
    if (!detail::split_url(url, u)) {
        l.defer([h = std::move(handler)]() mutable {
            h(std::make_error_code(std::errc::invalid_argument), client_response{});
        });
        return;
    }
    // From here the operation's handlers hold it (see fetch_op).
    sluice::detail::make_ref<detail::fetch_op>(l, std::move(opt), std::move(handler))->start(u);
}

SLUICE_DECL void fetch(loop& l, std::string_view url, fetch_handler handler) {
    fetch(l, url, request_options{}, std::move(handler));
}
} // namespace sluice::http
