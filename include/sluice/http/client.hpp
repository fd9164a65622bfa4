// sluice — a minimal HTTP/1.1 client for simple requests: one request per
// connection (Connection: close), the whole response collected in memory up to a
// limit, a timeout for the whole exchange. For health checks, tests and tools;
// plain http:// only (no TLS).
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/http/serializer.hpp>
#include <sluice/util/ref.hpp>

#include <string>
#include <utility>
#include <vector>

namespace sluice::http {

struct client_response {
    unsigned status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // The first header of that name (case-insensitive), or an empty view.
    std::string_view get(std::string_view name) const noexcept {
        for (auto& h : headers)
            if (detail::iequals(h.first, name)) return h.second;
        return {};
    }
};

struct request_options {
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                            // sent with Content-Length when non-empty
    // The whole response held in memory (head, body as collected, bytes not yet parsed);
    // fetch fails with body_too_large as soon as it would go past.
    std::size_t max_response = 16 * 1024 * 1024;
    std::chrono::milliseconds timeout{30000};    // resolve + connect + request + response
};

using fetch_handler = unique_function<void(std::error_code, client_response)>;

namespace detail {

struct url_parts {
    std::string host;
    std::uint16_t port = 80;
    std::string target = "/";
};

// "http://host[:port][/path[?query]]", host may be [IPv6].
inline bool split_url(std::string_view url, url_parts& out) {
    constexpr std::string_view scheme = "http://";
    if (url.size() <= scheme.size() || !iequals(url.substr(0, scheme.size()), scheme)) return false;
    url.remove_prefix(scheme.size());
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

// One fetch. Counted (detail::ref_counted): every handler it gives the timer, the stream
// or the loop holds a reference, never `this` raw, so the operation lives until the last of
// them has run or been dropped, whatever finishes it first (the timeout may expire while
// name resolution is still queued on the thread pool).
class fetch_op final : public sluice::detail::ref_counted<fetch_op> {
  public:
    using op_ref = sluice::detail::ref<fetch_op>;

    fetch_op(loop& l, request_options opt, fetch_handler h)
        : stream_(l), timer_(l), opt_(std::move(opt)), handler_(std::move(h)),
          parser_(parser::response, msg_) {}

    void start(const url_parts& u) {
        parser_.response_to(to_verb(opt_.method));
        timer_.start(opt_.timeout, [self = op_ref(this)](std::error_code ec) {
            if (!ec) self->finish(make_error_code(sluice::error::timed_out));
        });
        serializer<std::string> s(request_);
        s.request_line(opt_.method, u.target);
        std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
        if (u.port != 80) host += ":" + std::to_string(u.port);
        s.header("Host", host).header("Connection", "close");
        for (auto& h : opt_.headers) s.header(h.first, h.second);
        if (!opt_.body.empty()) s.content_length(opt_.body.size());
        s.end_head();
        if (auto ec = s.error()) return finish(ec);
        request_ += opt_.body;
        stream_.connect(u.host, u.port, [self = op_ref(this)](std::error_code ec) {
            if (!self->handler_) return; // finished meanwhile (timed out)
            if (ec) return self->finish(ec);
            self->stream_.write(self->request_);
            self->stream_.read_start([self](std::error_code e, std::string_view data) {
                self->on_data(e, data);
            });
        });
    }

  private:
    // Bytes of the response held now: its head, the body collected, what is not parsed yet.
    std::size_t held() const noexcept { return head_bytes_ + res_.body.size() + buf_.size(); }

    void on_data(std::error_code ec, std::string_view data) {
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

    void finish(std::error_code ec) {
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

    tcp_stream stream_;
    timer timer_;
    request_options opt_;
    fetch_handler handler_; // empty once finished
    message_storage<64> msg_;
    parser parser_;
    std::string request_, buf_;
    client_response res_;
    std::size_t head_bytes_ = 0; // of the response being collected
};

} // namespace detail

// GET (or opt.method) `url`; handler(ec, response) runs once on the loop thread.
// Any status is a success at this level: check response.status.
inline void fetch(loop& l, std::string_view url, request_options opt, fetch_handler handler) {
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
inline void fetch(loop& l, std::string_view url, fetch_handler handler) {
    fetch(l, url, request_options{}, std::move(handler));
}

} // namespace sluice::http
