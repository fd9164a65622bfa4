// sluice — out-of-line bodies of sluice/http/pool.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/pool.hpp>

#include <algorithm>
#include <limits>

namespace sluice::http {
namespace detail {

using sluice::detail::make_ref;
using sluice::detail::ref;

namespace pool_detail {

inline bool idempotent(std::string_view m) noexcept {
    return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" ||
           m == "TRACE";
}

inline bool is_redirect(unsigned status) noexcept {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

inline std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(k_lower.v[static_cast<unsigned char>(c)]);
    return s;
}

inline const char* scheme_of(const url_parts& u) noexcept { return u.secure ? "https:" : "http:"; }

// The pool's key: the scheme too, so that http:// and https:// of one host never share.
inline std::string origin_of(const url_parts& u) {
    return std::string(scheme_of(u)) + "//" + lower(u.host) + ":" + std::to_string(u.port);
}

inline void erase_header(std::vector<std::pair<std::string, std::string>>& hs, std::string_view name) {
    hs.erase(std::remove_if(hs.begin(), hs.end(),
                            [&](const auto& h) { return iequals(h.first, name); }),
             hs.end());
}

// The absolute URL a Location names, relative to the request's URL (RFC 3986 5.2, without
// dot-segment removal: the server resolves those).
inline std::string resolve_location(const url_parts& base, std::string_view loc) {
    std::size_t colon = loc.find(':'), slash = loc.find('/');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash))
        return std::string(loc); // has a scheme
    std::string origin = std::string(scheme_of(base)) + "//" + authority_of(base);
    if (loc.substr(0, 2) == "//") return scheme_of(base) + std::string(loc);
    if (!loc.empty() && loc[0] == '/') return origin + std::string(loc);
    std::string_view path = base.target;
    path = path.substr(0, path.find_first_of("?#"));
    if (loc.empty()) return origin + base.target;
    if (loc[0] == '?') return origin + std::string(path) + std::string(loc);
    return origin + std::string(path.substr(0, path.rfind('/') + 1)) + std::string(loc);
}

} // namespace pool_detail

SLUICE_DECL void pooled_conn::on_read(std::error_code ec, std::string_view data) {
    if (closed_) return;
    if (op_) {
        ref<client_op> op = op_; // may finish and let go of this connection inside
        op->on_data(ec, data);
        return;
    }
    // Bytes or an end of stream while no request is out: the server closed it (or broke
    // the protocol); either way it cannot carry the next request.
    core_->drop(ref<pooled_conn>(this));
}

SLUICE_DECL client_op::client_op(loop& l, ref<client_core> core, std::uint64_t id,
                                 client_request req, fetch_handler h)
    : id_(id), timer_(l), core_(std::move(core)), req_(std::move(req)), handler_(std::move(h)),
      parser_(parser::response, msg_, [&] {
          limits lim;
          lim.max_head = core_->s_.max_response_head;
          lim.max_body = std::numeric_limits<std::uint64_t>::max(); // bounded below
          return lim;
      }()) {}

SLUICE_DECL std::error_code client_op::prepare(std::string_view url) {
    url_ = url_parts{};
    if (!split_url(url, url_)) return make_error_code(error::bad_url);
    if (url_.secure && !core_->s_.tls) return std::make_error_code(std::errc::protocol_not_supported);
    origin_ = pool_detail::origin_of(url_);
    head_.clear();
    serializer<std::string> s(head_);
    s.request_line(req_.method, url_.target).header("Host", authority_of(url_));
    for (auto& h : req_.headers) s.header(h.first, h.second);
    chunked_ = false;
    if (req_.producer) {
        if (req_.content_length >= 0)
            s.content_length(static_cast<std::uint64_t>(req_.content_length));
        else
            s.chunked(), chunked_ = true;
    } else if (!req_.body.empty() || req_.method == "POST" || req_.method == "PUT" ||
               req_.method == "PATCH") {
        s.content_length(req_.body.size());
    }
    s.end_head();
    return s.error();
}

SLUICE_DECL void client_op::start_on(ref<pooled_conn> c, bool reused) {
    conn_ = std::move(c);
    conn_->op_ = op_ref(this);
    reused_ = reused;
    got_bytes_ = following_ = false;
    parser_.reset();
    parser_.response_to(to_verb(req_.method));
    buf_.clear();
    res_ = client_response{};
    head_bytes_ = 0;
    conn_->stream_.write(head_);
    if (!req_.body.empty()) conn_->stream_.write(req_.body);
    producer_done_ = !req_.producer;
    if (req_.producer) {
        produced_ = 0;
        // From the loop: the producer is user code, never run inside request() or a pump.
        conn_->stream_.on_drain([self = op_ref(this), c = conn_] {
            if (self->conn_ == c) self->pump_body();
        });
    }
}

SLUICE_DECL void client_op::pump_body() {
    stream& st = conn_->stream_;
    while (!producer_done_ && !st.write_queue_high()) {
        piece_.clear();
        bool more = req_.producer(piece_);
        if (!handler_ || !conn_) return; // the producer cancelled or closed
        produced_ += piece_.size();
        if (chunked_) {
            if (!piece_.empty()) {
                char size[24];
                std::size_t n = format_uint(piece_.size(), size, 16);
                std::string line(size, n);
                line += "\r\n";
                const_buffer bufs[3] = {const_buffer(std::string_view(line)),
                                        const_buffer(std::string_view(piece_)),
                                        const_buffer(std::string_view("\r\n"))};
                st.write(bufs, 3);
            }
            if (!more) st.write(std::string_view("0\r\n\r\n"));
        } else {
            if (produced_ > static_cast<std::uint64_t>(req_.content_length))
                return finish(std::make_error_code(std::errc::invalid_argument));
            st.write(piece_);
        }
        if (!more) {
            producer_done_ = true;
            if (!chunked_ && produced_ != static_cast<std::uint64_t>(req_.content_length))
                return finish(std::make_error_code(std::errc::invalid_argument));
        }
    }
    if (!producer_done_)
        st.on_drain([self = op_ref(this), c = conn_] {
            if (self->conn_ == c) self->pump_body();
        });
}

SLUICE_DECL bool client_op::is_followed_redirect() const {
    if (!pool_detail::is_redirect(res_.status) || res_.get("Location").empty()) return false;
    bool keeps_body = res_.status == 307 || res_.status == 308 ||
                      ((res_.status == 301 || res_.status == 302) && req_.method != "POST");
    // A body that was pulled from a producer cannot be sent again.
    return !(keeps_body && req_.producer);
}

SLUICE_DECL void client_op::on_data(std::error_code ec, std::string_view data) {
    if (!handler_) return;
    if (ec && ec != sluice::error::eof) return attempt_failed(ec);
    if (!ec) {
        got_bytes_ = true;
        buf_.append(data);
    } else if (!got_bytes_) {
        return attempt_failed(make_error_code(error::unexpected_eof));
    }
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
            following_ = is_followed_redirect();
            continue;
        case event::body:
            if (following_ || res_.status < 200) continue; // not the answer: dropped
            if (req_.on_body) {
                req_.on_body(r.data);
                if (!handler_) return; // the consumer cancelled or closed
                continue;
            }
            if (head_bytes_ + res_.body.size() + r.data.size() > core_->s_.max_response)
                return finish(make_error_code(error::body_too_large));
            res_.body.append(r.data);
            continue;
        case event::done:
            if (res_.status >= 100 && res_.status < 200) { // interim: the real answer follows
                res_ = client_response{};
                head_bytes_ = 0;
                parser_.response_to(to_verb(req_.method));
                continue;
            }
            // Reusable when the server keeps it open, the whole request went out, and no
            // stray byte follows the response.
            return response_done(!ec && msg_.keep_alive() && producer_done_ &&
                                 off == buf_.size());
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
    if (!req_.on_body && held() > core_->s_.max_response)
        return finish(make_error_code(error::body_too_large));
    if (ec) finish(make_error_code(error::unexpected_eof));
}

SLUICE_DECL void client_op::attempt_failed(std::error_code ec) {
    // The server may close a kept connection just as a request goes out: an idempotent
    // request that saw no byte of an answer is sent once more, on a new connection.
    if (reused_ && !got_bytes_ && !retried_ && !req_.producer &&
        pool_detail::idempotent(req_.method)) {
        retried_ = true;
        ref<pooled_conn> c = std::move(conn_);
        c->op_ = nullptr;
        core_->drop(c);
        return core_->retry_fresh(op_ref(this));
    }
    finish(ec);
}

SLUICE_DECL void client_op::response_done(bool reusable) {
    ref<pooled_conn> c = std::move(conn_);
    c->op_ = nullptr;
    op_ref keep(this);
    core_->release(std::move(c), reusable);
    if (!handler_) return;
    if (following_) return follow_redirect();
    finish({});
}

SLUICE_DECL void client_op::follow_redirect() {
    if (redirects_ >= core_->s_.max_redirects) return finish(make_error_code(error::too_many_redirects));
    ++redirects_;
    std::string next = pool_detail::resolve_location(url_, res_.get("Location"));
    unsigned status = res_.status;
    if (status == 303 || ((status == 301 || status == 302) && req_.method == "POST")) {
        if (req_.method != "HEAD") req_.method = "GET";
        req_.body.clear();
        req_.producer = nullptr;
        req_.content_length = -1;
        for (auto name : {"Content-Length", "Content-Type", "Transfer-Encoding"})
            pool_detail::erase_header(req_.headers, name);
    }
    std::string old_origin = origin_;
    if (auto ec = prepare(next)) return finish(ec);
    if (origin_ != old_origin) {
        pool_detail::erase_header(req_.headers, "Authorization");
        pool_detail::erase_header(req_.headers, "Cookie");
        if (auto ec = prepare(next)) return finish(ec);
    }
    retried_ = false;
    core_->submit(op_ref(this));
}

SLUICE_DECL void client_op::finish(std::error_code ec) {
    if (!handler_) return;
    fetch_handler h = std::move(handler_);
    op_ref keep(this);
    timer_.cancel();
    if (conn_) { // mid-exchange: the connection's state is unknown
        ref<pooled_conn> c = std::move(conn_);
        c->op_ = nullptr;
        core_->drop(c);
    }
    core_->forget(*this);
    client_response res = ec ? client_response{} : std::move(res_);
    core_->loop_.defer([keep, h = std::move(h), ec, res = std::move(res)]() mutable {
        h(ec, std::move(res));
    });
}

// ---- the pool ----

SLUICE_DECL void client_core::submit(op_ref op) {
    if (closed_) return op->finish(make_error_code(sluice::error::operation_aborted));
    origin_state& o = origins_[op->origin_];
    if (o.open == 0 && o.waiting.empty()) {
        o.host = op->url_.host;
        o.port = op->url_.port;
        o.secure = op->url_.secure;
    }
    std::size_t backlog = o.waiting.size() > o.connecting ? o.waiting.size() - o.connecting : 0;
    if (backlog >= s_.max_queued_per_origin) {
        op->finish(make_error_code(error::queue_full));
        return tidy(op->origin_);
    }
    std::string origin = op->origin_;
    o.waiting.push_back(std::move(op));
    pump(origin);
}

SLUICE_DECL void client_core::retry_fresh(op_ref op) {
    if (closed_) return op->finish(make_error_code(sluice::error::operation_aborted));
    origin_state& o = origins_[op->origin_];
    o.host = op->url_.host; // the entry may have gone with the failed connection
    o.port = op->url_.port;
    o.secure = op->url_.secure;
    // The failed connection was just closed, so this stays within the limit.
    conn_ref c = open_conn(o, op->origin_);
    c->reserved_ = std::move(op);
}

SLUICE_DECL void client_core::forget(client_op& op) {
    ops_.erase(op.id_);
    auto it = origins_.find(op.origin_);
    if (it == origins_.end()) return;
    auto& w = it->second.waiting;
    for (auto i = w.begin(); i != w.end(); ++i)
        if (i->get() == &op) {
            w.erase(i);
            break;
        }
    tidy(op.origin_);
}

SLUICE_DECL void client_core::pump(const std::string& origin) {
    if (closed_) return;
    auto it = origins_.find(origin);
    if (it == origins_.end()) return;
    origin_state& o = it->second;
    ++depth_;
    while (!o.waiting.empty()) {
        auto idle = std::find_if(idle_.rbegin(), idle_.rend(),
                                 [&](const conn_ref& c) { return c->origin_ == origin; });
        if (idle == idle_.rend()) break;
        conn_ref c = *idle;
        idle_.erase(std::next(idle).base());
        c->idle_ = false;
        c->idle_timer_.cancel();
        op_ref op = std::move(o.waiting.front());
        o.waiting.pop_front();
        op->start_on(std::move(c), true);
    }
    while (o.waiting.size() > o.connecting && o.open < s_.max_connections_per_origin) {
        conn_ref c = open_conn(o, origin);
        c->counts_connecting_ = true;
        ++o.connecting;
    }
    --depth_;
    tidy(origin);
}

SLUICE_DECL client_core::conn_ref client_core::open_conn(origin_state& o, const std::string& origin) {
    conn_ref c = make_ref<pooled_conn>(loop_, ref<client_core>(this), origin);
    ++o.open;
    ++opened_;
    conns_.push_back(c);
    c->stream_.set_write_limits(s_.write);
    if (!o.secure) {
        connect_options co;
        co.timeout = s_.connect_timeout;
        c->stream_.connect(o.host, o.port, [c](std::error_code ec) {
            if (!c->closed_) c->core_->on_connected(c, ec);
        }, co);
        return c;
    }
    // One deadline for the name lookup, the connect and the handshake together: the
    // connection's idle timer, unused until it is pooled.
    tls_options to;
    to.connect.timeout = std::chrono::milliseconds(0);
    to.handshake_timeout = std::chrono::milliseconds(0);
    if (s_.connect_timeout.count() > 0)
        c->idle_timer_.start(s_.connect_timeout, [c](std::error_code ec) {
            if (!ec && !c->closed_ && !c->connected_)
                c->core_->on_connected(c, make_error_code(sluice::error::timed_out));
        });
    tls_connect(c->stream_, o.host, o.port, s_.tls, [c](std::error_code ec) {
        if (c->closed_) return;
        c->idle_timer_.cancel();
        c->core_->on_connected(c, ec);
    }, to);
    return c;
}

SLUICE_DECL void client_core::on_connected(const conn_ref& c, std::error_code ec) {
    origin_state& o = origins_[c->origin_];
    if (c->counts_connecting_) {
        c->counts_connecting_ = false;
        --o.connecting;
    }
    op_ref mine = std::move(c->reserved_);
    if (mine && !mine->pending()) mine = nullptr;
    if (ec) {
        // The error goes to the request this connect was for: its retry, or the first
        // waiting. Taken before the close, which may let the origin's entry go.
        if (!mine && !o.waiting.empty()) {
            mine = std::move(o.waiting.front());
            o.waiting.pop_front();
        }
        close_conn(c);
        if (mine) mine->finish(ec);
        return pump(c->origin_);
    }
    c->connected_ = true;
    c->stream_.set_nodelay(true);
    c->stream_.read_start([c](std::error_code e, std::string_view data) { c->on_read(e, data); });
    if (mine) {
        mine->start_on(c, false);
    } else if (!o.waiting.empty()) {
        op_ref op = std::move(o.waiting.front());
        o.waiting.pop_front();
        op->start_on(c, false);
    } else {
        return release(c, true);
    }
    pump(c->origin_);
}

SLUICE_DECL void client_core::release(conn_ref c, bool reusable) {
    if (!reusable || closed_ || !c->connected_ || c->closed_) return drop(c);
    auto it = origins_.find(c->origin_);
    if (it != origins_.end() && !it->second.waiting.empty()) {
        op_ref op = std::move(it->second.waiting.front());
        it->second.waiting.pop_front();
        return op->start_on(std::move(c), true);
    }
    c->idle_ = true;
    idle_.push_back(c);
    if (s_.idle_timeout.count() > 0)
        c->idle_timer_.start(s_.idle_timeout, [c](std::error_code ec) {
            if (!ec && !c->closed_) c->core_->drop(c);
        });
    if (idle_.size() > s_.max_idle) close_conn(conn_ref(idle_.front()));
}

SLUICE_DECL void client_core::drop(const conn_ref& c) {
    if (c->closed_) return;
    std::string origin = c->origin_;
    close_conn(c);
    pump(origin);
}

SLUICE_DECL void client_core::close_conn(const conn_ref& c) {
    if (c->closed_) return;
    c->closed_ = true;
    conn_ref keep = c;
    if (c->idle_) {
        c->idle_ = false;
        idle_.erase(std::find(idle_.begin(), idle_.end(), c));
    }
    conns_.erase(std::find(conns_.begin(), conns_.end(), c));
    auto it = origins_.find(c->origin_);
    if (it != origins_.end()) {
        --it->second.open;
        if (c->counts_connecting_) --it->second.connecting;
    }
    c->counts_connecting_ = false;
    c->idle_timer_.close();
    c->stream_.close();
    c->op_ = nullptr;
    c->reserved_ = nullptr;
    tidy(c->origin_);
}

SLUICE_DECL void client_core::tidy(const std::string& origin) {
    if (depth_ > 0) return;
    auto it = origins_.find(origin);
    if (it != origins_.end() && it->second.open == 0 && it->second.waiting.empty())
        origins_.erase(it);
}

SLUICE_DECL void client_core::close() {
    if (closed_) return;
    closed_ = true;
    ref<client_core> keep(this);
    auto ops = std::move(ops_);
    ops_.clear();
    for (auto& kv : ops) kv.second->finish(make_error_code(sluice::error::operation_aborted));
    auto conns = conns_;
    for (auto& c : conns) close_conn(c);
    origins_.clear();
}

SLUICE_DECL std::uint64_t start_request(const ref<client_core>& core, client_request req,
                                        fetch_handler handler) {
    if (!core || core->closed_) {
        if (core)
            core->loop_.defer([h = std::move(handler)]() mutable {
                h(make_error_code(sluice::error::operation_aborted), client_response{});
            });
        return 0;
    }
    std::uint64_t id = core->next_id_++;
    std::string url = std::move(req.url);
    auto op = make_ref<client_op>(core->loop_, core, id, std::move(req), std::move(handler));
    core->ops_.emplace(id, op);
    if (auto ec = op->prepare(url)) {
        op->finish(ec);
        return id;
    }
    if (core->s_.request_timeout.count() > 0)
        op->timer_.start(core->s_.request_timeout, [op](std::error_code ec) {
            if (!ec) op->finish(make_error_code(sluice::error::timed_out));
        });
    core->submit(op);
    return id;
}

SLUICE_DECL bool cancel_request(const ref<client_core>& core, std::uint64_t id) {
    if (!core) return false;
    auto it = core->ops_.find(id);
    if (it == core->ops_.end()) return false;
    ref<client_op> op = it->second;
    op->finish(make_error_code(sluice::error::operation_aborted));
    return true;
}

} // namespace detail

SLUICE_DECL void client::close() {
    if (core_) core_->close();
}

} // namespace sluice::http
