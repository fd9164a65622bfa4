// sluice — WebSocket client: dials ws://host[:port]/path and hands back a connection.
//
//     ws::handlers h;
//     h.on_open = [](ws::connection& c) { c.send_text("hello"); };
//     h.on_message = [](ws::connection& c, const ws::message& m) { c.close(); };
//     ws::connection c = ws::connect(loop, "ws://127.0.0.1:9000/chat", std::move(h));
//
// The returned connection is usable at once for bookkeeping; it sends nothing until on_open.
// A dial that fails (name, connect, handshake, timeout) reports through on_close with 1006
// and the error, so every connect() ends in exactly one of on_open or on_close... and an
// opened one in on_close later. Frames are masked with a fresh key each (RFC 6455 §5.3).
// No TLS: wss:// is refused with std::errc::protocol_not_supported.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/ws/connection.hpp>
#include <sluice/ws/handshake.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace ws {

struct client_options {
    ws::settings settings{};
    std::string origin;                                       // sent as Origin when non-empty
    std::vector<std::string> subprotocols;                    // offered, in preference order
    std::vector<std::pair<std::string, std::string>> headers; // extra request headers
    std::chrono::milliseconds handshake_timeout{10000};       // resolve + connect + handshake
};

namespace detail {

// One dial: resolve, connect, handshake, then the connection opens (or fails). Counted:
// each handler it gives the stream, the timer or the loop holds a reference, so it lives
// exactly as long as one of them can still run.
class dial final : public sluice::detail::ref_counted<dial> {
  public:
    using dial_ref = sluice::detail::ref<dial>;

    dial(loop& l, handlers h, client_options o)
        : timer_(l), opt_(std::move(o)), parser_(http::parser::response, msg_) {
        sh_ = sluice::detail::make_ref<shared_state>(l, opt_.settings);
        sh_->h = std::move(h);
        conn_ = sluice::detail::make_ref<conn_impl>(sh_, role::client, tcp_stream(l));
    }
    dial(const dial&) = delete;
    dial& operator=(const dial&) = delete;

    connection handle() const { return connection(conn_.get()); }

    void start(std::string_view url) {
        std::string_view rest;
        if (url.size() > 5 && http::detail::iequals(url.substr(0, 5), "ws://"))
            rest = url.substr(5);
        else if (url.size() > 6 && http::detail::iequals(url.substr(0, 6), "wss://"))
            return later(std::make_error_code(std::errc::protocol_not_supported));
        else
            return later(make_error_code(http::error::bad_url));
        http::detail::url_parts u;
        if (!http::detail::split_url("http://" + std::string(rest), u))
            return later(make_error_code(http::error::bad_url));

        std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
        if (u.port != 80) host += ":" + std::to_string(u.port);
        std::string extra;
        for (auto& h : opt_.headers) {
            if (h.first.find_first_of("\r\n:") != std::string::npos ||
                h.second.find_first_of("\r\n") != std::string::npos)
                return later(make_error_code(http::error::invalid_field));
            extra += h.first + ": " + h.second + "\r\n";
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
        conn_->stream().connect(u.host, u.port, [d = dial_ref(this)](std::error_code ec) {
            if (d->done_) return;
            if (ec) return d->finish(ec);
            tcp_stream& st = d->conn_->stream();
            st.set_nodelay(true);
            st.write(std::string_view(d->request_));
            st.read_start([d2 = d](std::error_code e, std::string_view data) {
                d2->on_data(e, data);
            });
        });
    }

  private:
    void later(std::error_code ec) {
        sh_->lp->defer([d = dial_ref(this), ec] { d->finish(ec); });
    }

    void on_data(std::error_code ec, std::string_view d) {
        if (done_) return;
        if (ec)
            return finish(ec == sluice::error::eof ? make_error_code(http::error::unexpected_eof)
                                                   : ec);
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
        // Frames the server sent right behind its 101 belong to the connection.
        std::string rest = buf_.substr(r.consumed);
        conn_->stream().read_stop();
        finish({}, std::move(rest));
    }

    void finish(std::error_code ec, std::string rest = {}) {
        if (done_) return;
        done_ = true;
        timer_.cancel();
        conn_ref c = std::move(conn_);
        if (ec)
            c->fail_handshake(ec);
        else
            c->open(std::move(rest));
    }

    timer timer_;
    client_options opt_;
    sluice::detail::ref<shared_state> sh_;
    conn_ref conn_; // until finish()
    client_config cfg_;
    std::vector<std::string_view> offered_;
    std::string key_, request_, buf_;
    http::message_storage<64> msg_;
    http::parser parser_;
    bool done_ = false;
};

} // namespace detail

// Dials a WebSocket server; see the top of this file.
inline connection connect(loop& l, std::string_view url, handlers h, client_options opt = {}) {
    auto d = sluice::detail::make_ref<detail::dial>(l, std::move(h), std::move(opt));
    connection c = d->handle();
    d->start(url); // from here its handlers hold it
    return c;
}

} // namespace ws
} // namespace sluice
