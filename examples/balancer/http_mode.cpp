// http mode: one client connection; each request goes to a backend picked for it, on a
// pooled keep-alive upstream connection when one is parked.
#include "balancer.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

namespace balancer_app {

namespace {

bool hop_by_hop(std::string_view name) {
    for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                               "transfer-encoding", "upgrade", "expect"})
        if (http::detail::iequals(name, h)) return true;
    return false;
}

// A field named in the message's Connection header is for this hop only, too.
bool listed_in_connection(const http::message& m, std::string_view name) {
    bool found = false;
    for (const http::header& h : m)
        if (http::detail::iequals(h.name, "connection"))
            http::detail::for_each_list_item(h.value, [&](std::string_view t) {
                if (http::detail::iequals(t, name)) found = true;
                return !found;
            });
    return found;
}

// Bodies are streamed, never held whole, so their size needs no limit here.
http::limits streamed_limits() {
    http::limits l;
    l.max_body = ~std::uint64_t(0);
    return l;
}

} // namespace

class http_conn : public std::enable_shared_from_this<http_conn> {
  public:
    http_conn(balancer& lb, sluice::tcp_stream client)
        : lb_(lb), client_(std::move(client)), upstream_timer_(lb.loop),
          request_parser_(http::parser::request, request_, streamed_limits()),
          response_parser_(http::parser::response, response_, streamed_limits()),
          tried_(lb.backends.size(), false) {
        lb_.connection_opened();
        lb_.http_conns.insert(this);
    }
    ~http_conn() {
        release_backend();
        lb_.discard(std::move(client_));
        lb_.discard(std::move(upstream_));
        lb_.http_conns.erase(this);
        lb_.connection_closed();
    }

    void start() {
        client_.set_nodelay(true);
        client_.set_write_limits(relay_limits);
        client_.set_timeouts(stall_timeout, milliseconds(0), stall_timeout);
        std::error_code ec;
        sluice::endpoint peer = client_.remote_endpoint(ec);
        if (!ec) {
            key_ = address_hash(peer);
            client_ip_ = peer.address();
        }
        update_reading();
    }

    // SIGTERM: an idle connection closes now, a busy one after its current response.
    void drain() {
        if (!active_) return client_.close();
        close_after_ = true;
    }

  private:
    // ---- the client side ----

    // The client is read on while its request is forwarded (one poller change fewer each
    // way per request); what it sends meanwhile, pipelined requests, waits in input_, and
    // past this much the client is not read until the exchange ends.
    static constexpr std::size_t pipelined_cap = 64 * 1024;

    void update_reading() {
        bool want = client_.is_open() && !closing_ && !input_paused_ &&
                    !(active_ && body_done_ && input_.size() >= pipelined_cap);
        if (want == reading_) return;
        reading_ = want;
        if (!want) return client_.read_stop();
        auto self = shared_from_this();
        client_.read_start(
            [self](std::error_code ec, std::string_view data) { self->on_client_data(ec, data); });
    }

    void on_client_data(std::error_code ec, std::string_view data) {
        if (ec) {
            reading_ = false;
            if (ec == sluice::error::eof && active_ && body_done_) {
                close_after_ = true; // done sending: the response still goes out
                return;
            }
            if (ec != sluice::error::operation_aborted) abort();
            return;
        }
        input_.append(data.data(), data.size());
        process_input();
    }

    // Parses what the client sent: at most one request is in progress at a time.
    void process_input() {
        auto self = shared_from_this();
        processing_ = true;
        std::size_t off = 0;
        while (client_.is_open() && !closing_ && !(active_ && body_done_) &&
               (active_ || off < input_.size())) {
            if (!active_ && lb_.draining) {
                client_.close();
                return;
            }
            http::result r = request_parser_.feed(input_.data() + off, input_.size() - off);
            off += r.consumed;
            if (r.ev == http::event::need_more) break;
            if (r.ev == http::event::head) {
                if (!begin_request()) break;
            } else if (r.ev == http::event::body) {
                forward_body(r.data);
            } else if (r.ev == http::event::done) {
                if (upstream_chunked_) forward_body_bytes("0\r\n\r\n");
                body_done_ = true;
                maybe_end_exchange();
            } else if (r.ev == http::event::upgrade) {
                respond_error(501, true); // tunnels and protocol switches are not relayed
                break;
            } else {
                respond_error(
                    static_cast<unsigned>(http::suggested_status(request_parser_.error())), true);
                break;
            }
        }
        processing_ = false;
        input_.erase(0, off);
        update_reading();
    }

    // The request head is complete: build what the backend gets and connect.
    bool begin_request() {
        const http::message& m = request_;
        active_ = true;
        body_done_ = false;
        response_done_ = false;
        head_relayed_ = false;
        upstream_chunked_ = false;
        retried_ = false;
        attempts_ = 0;
        std::fill(tried_.begin(), tried_.end(), false);
        verb_ = m.verb;
        client_keep_alive_ = m.keep_alive();
        client_minor_ = m.version_minor;
        if (!client_keep_alive_ || lb_.draining) close_after_ = true;
        retryable_ = (m.verb == http::verb::get || m.verb == http::verb::head) && !m.has_body();
        // Sent again when a reused connection turns out to have been closed under it.
        replayable_ = !m.has_body() &&
                      (m.verb == http::verb::get || m.verb == http::verb::head ||
                       m.verb == http::verb::options || m.verb == http::verb::trace ||
                       m.verb == http::verb::put || m.verb == http::verb::delete_);
        if (m.upgrade()) {
            respond_error(501, true);
            return false;
        }

        upstream_head_.clear();
        pending_body_.clear();
        http::serializer<std::string> s(upstream_head_);
        s.request_line(m.method, m.target);
        std::string forwarded_for;
        for (const http::header& h : m) {
            if (hop_by_hop(h.name) || http::detail::iequals(h.name, "content-length") ||
                listed_in_connection(m, h.name))
                continue;
            // The scheme of this hop is ours to tell; a client's own claim goes.
            if (http::detail::iequals(h.name, "x-forwarded-proto")) continue;
            if (http::detail::iequals(h.name, "x-forwarded-for")) {
                forwarded_for.append(h.value.data(), h.value.size());
                forwarded_for += ", ";
                continue;
            }
            s.header(h.name, h.value);
        }
        forwarded_for += client_ip_;
        s.header("X-Forwarded-For", forwarded_for);
        s.header("X-Forwarded-Proto", lb_.tls ? "https" : "http");
        if (m.has_body() && m.has_content_length()) {
            s.content_length(m.content_length);
        } else if (m.has_body()) {
            s.chunked();
            upstream_chunked_ = true;
        } else if (m.verb == http::verb::post || m.verb == http::verb::put ||
                   m.verb == http::verb::patch) {
            s.content_length(0);
        }
        s.end_head(); // HTTP/1.1 without Connection: close: the connection may be reused
        if (s.error()) {
            respond_error(400, true);
            return false;
        }
        // The backend sees no Expect (it is hop-by-hop here): answer it ourselves.
        if (m.expect_continue() && m.has_body())
            client_.write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
        connect_upstream();
        return true;
    }

    void forward_body(std::string_view data) {
        if (data.empty()) return;
        if (!upstream_chunked_) return forward_body_bytes(data);
        char size[24];
        int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        forward_body_bytes(std::string_view(size, static_cast<std::size_t>(n)));
        forward_body_bytes(data);
        forward_body_bytes("\r\n");
    }

    void forward_body_bytes(std::string_view data) {
        if (response_done_) return; // answered already: the rest is read and dropped
        if (!upstream_connected_) {
            // Kept until the connect succeeds (and for a retry if it fails).
            pending_body_.append(data.data(), data.size());
            if (pending_body_.size() >= relay_limits.high_watermark) input_paused_ = true;
            return;
        }
        upstream_.write(data, upstream_write_done());
        if (upstream_.write_queue_high()) pause_input_until_drained();
    }

    void pause_input_until_drained() {
        input_paused_ = true;
        auto self = shared_from_this();
        unsigned gen = gen_;
        upstream_.on_drain([self, gen] {
            if (gen != self->gen_) return;
            self->input_paused_ = false;
            self->update_reading();
        });
    }

    // A complete, self-made response: for errors, when no backend byte was relayed.
    // force_close: the request could not be parsed, the connection cannot go on.
    void respond_error(unsigned status, bool force_close) {
        release_backend();
        close_upstream();
        std::string body(http::reason_phrase(status));
        body += '\n';
        bool close = force_close || close_after_ || lb_.draining;
        std::string out;
        http::serializer<std::string> s(out);
        s.status_line(status).header("Content-Type", "text/plain").content_length(body.size());
        if (close) s.header("Connection", "close");
        s.end_head().body(body);
        client_.write(out);
        if (close) close_after_ = true;
        if (force_close) body_done_ = true; // nothing more is read
        response_finished();
    }

    void response_finished() {
        response_done_ = true;
        input_paused_ = false; // its drain callback went with the upstream connection
        maybe_end_exchange();
    }

    // The exchange is over once the response went out and the request was read whole
    // (a backend may answer before the upload is complete).
    void maybe_end_exchange() {
        if (!active_ || !response_done_ || !body_done_) return;
        active_ = false;
        if (close_after_) {
            closing_ = true;
            client_.close_after_flush();
            return;
        }
        update_reading();
        if (!processing_ && !input_.empty()) { // pipelined requests read meanwhile
            auto self = shared_from_this();
            lb_.loop.defer([self] { self->process_input(); });
        }
    }

    void abort() {
        closing_ = true;
        release_backend();
        close_upstream();
        client_.close();
    }

    sluice::io_handler client_write_done() {
        auto self = shared_from_this();
        return [self](std::error_code ec, std::size_t) {
            if (ec && ec != sluice::error::operation_aborted) self->abort();
        };
    }

    // ---- the backend side ----

    void connect_upstream() {
        backend_ = lb_.pick(key_, tried_);
        if (backend_ == none) return respond_error(attempts_ == 0 ? 503 : 502, false);
        tried_[backend_] = true;
        ++attempts_;
        ++lb_.backends[backend_].active;
        open_upstream(true);
    }

    // A connection to backend_: a parked one when `may_reuse` and there is one, else new.
    void open_upstream(bool may_reuse) {
        close_upstream();
        lb_.discard(std::move(upstream_));
        upstream_buffer_.clear();
        response_parser_.reset();
        response_parser_.response_to(verb_);
        interim_ = false;
        reframe_ = false;
        response_started_ = false;
        reused_ = may_reuse && lb_.pool.take(backend_, upstream_);
        if (reused_) {
            ++lb_.backends[backend_].reuses;
            return on_upstream_connected({});
        }
        ++lb_.backends[backend_].connects;
        upstream_ = sluice::tcp_stream(lb_.loop);
        auto self = shared_from_this();
        unsigned gen = gen_;
        upstream_timer_.start(connect_timeout, [self, gen](std::error_code ec) {
            if (!ec && gen == self->gen_) self->upstream_.cancel_connect();
        });
        upstream_.connect(lb_.backends[backend_].address, [self, gen](std::error_code ec) {
            if (gen == self->gen_) self->on_upstream_connected(ec);
        });
    }

    void on_upstream_connected(std::error_code ec) {
        upstream_timer_.cancel();
        if (ec) {
            // Nothing reached the backend: any request may go to the next one.
            lb_.connect_failed(backend_, ec);
            release_backend();
            return connect_upstream();
        }
        upstream_connected_ = true;
        if (!reused_) { // a parked connection kept these
            upstream_.set_nodelay(true);
            upstream_.set_write_limits(relay_limits);
        }
        upstream_.set_timeouts(stall_timeout, milliseconds(0), milliseconds(0));
        upstream_.write(std::string_view(upstream_head_), upstream_write_done());
        if (!pending_body_.empty()) {
            upstream_.write(std::string_view(pending_body_), upstream_write_done());
            pending_body_.clear();
        }
        input_paused_ = false;
        if (upstream_.write_queue_high()) pause_input_until_drained();
        read_upstream();
        update_reading();
    }

    sluice::io_handler upstream_write_done() {
        auto self = shared_from_this();
        unsigned gen = gen_;
        return [self, gen](std::error_code ec, std::size_t) {
            if (ec && ec != sluice::error::operation_aborted && gen == self->gen_)
                self->upstream_failed(ec);
        };
    }

    void read_upstream() {
        auto self = shared_from_this();
        unsigned gen = gen_;
        upstream_.read_start([self, gen](std::error_code ec, std::string_view data) {
            if (gen == self->gen_) self->on_upstream_data(ec, data);
        });
    }

    void on_upstream_data(std::error_code ec, std::string_view data) {
        if (ec && ec != sluice::error::eof) return upstream_failed(ec);
        if (!data.empty()) response_started_ = true;
        auto self = shared_from_this();
        const unsigned gen = gen_;
        // Parse straight from the read buffer; copy only an unfinished head's bytes.
        const char* p = data.data();
        std::size_t len = data.size();
        if (!upstream_buffer_.empty()) {
            upstream_buffer_.append(data.data(), data.size());
            p = upstream_buffer_.data();
            len = upstream_buffer_.size();
        }
        std::size_t off = 0;
        for (;;) {
            http::result r = ec ? response_parser_.finish(p + off, len - off)
                                : response_parser_.feed(p + off, len - off);
            off += r.consumed;
            if (r.ev == http::event::need_more) {
                if (ec) return upstream_failed(make_error_code(http::error::unexpected_eof));
                break;
            }
            if (r.ev == http::event::head) {
                if (response_.status < 200) {
                    interim_ = true; // 100 Continue and friends: ours was already sent
                    continue;
                }
                if (!relay_head()) return;
            } else if (r.ev == http::event::body) {
                relay_body(r.data);
                if (gen != gen_) return;
            } else if (r.ev == http::event::done) {
                if (interim_) {
                    interim_ = false;
                    response_parser_.response_to(verb_);
                    continue;
                }
                // Bytes after the response, or its end seen only with EOF, and the
                // connection cannot carry another exchange.
                return response_complete(ec || off != len);
            } else if (r.ev == http::event::upgrade) {
                return upstream_failed(std::make_error_code(std::errc::protocol_not_supported));
            } else {
                return upstream_failed(response_parser_.error());
            }
        }
        flush_client();
        if (upstream_buffer_.empty())
            upstream_buffer_.assign(p + off, len - off);
        else
            upstream_buffer_.erase(0, off);
        if (client_.write_queue_high()) {
            upstream_.read_stop();
            client_.on_drain([self, gen] {
                if (gen == self->gen_) self->read_upstream();
            });
        }
    }

    bool relay_head() {
        const http::message& m = response_;
        client_out_.clear();
        http::serializer<std::string> s(client_out_);
        s.status_line(m.status, m.reason);
        for (const http::header& h : m)
            if (!hop_by_hop(h.name) && !listed_in_connection(m, h.name)) s.header(h.name, h.value);
        if (m.has_body() && !m.has_content_length()) {
            if (client_minor_ >= 1) {
                s.chunked();
                reframe_ = true;
            } else {
                close_after_ = true; // HTTP/1.0: the close ends the body
            }
        }
        if (close_after_ || !client_keep_alive_ || lb_.draining) {
            close_after_ = true;
            s.header("Connection", "close");
        } else if (client_minor_ == 0) {
            s.header("Connection", "keep-alive");
        }
        s.end_head();
        if (s.error()) {
            client_out_.clear();
            upstream_failed(s.error());
            return false;
        }
        head_relayed_ = true; // written by flush_client(), with the body bytes read with it
        return true;
    }

    // Small bodies join the head (or the previous chunk) in client_out_, for one send per
    // upstream read; big ones go out as they are, without the copy.
    static constexpr std::size_t coalesce_max = 16 * 1024;

    void relay_body(std::string_view data) {
        if (data.empty()) return;
        char size[24];
        int n = reframe_ ? std::snprintf(size, sizeof size, "%zx\r\n", data.size()) : 0;
        if (data.size() <= coalesce_max) {
            client_out_.append(size, static_cast<std::size_t>(n));
            client_out_.append(data.data(), data.size());
            if (reframe_) client_out_.append("\r\n");
            return;
        }
        flush_client();
        if (!reframe_) return client_.write(data, client_write_done());
        sluice::const_buffer parts[3] = {sluice::const_buffer(size, static_cast<std::size_t>(n)),
                                         sluice::const_buffer(data),
                                         sluice::const_buffer(std::string_view("\r\n"))};
        client_.write(parts, 3, client_write_done());
    }

    void flush_client() {
        if (client_out_.empty()) return;
        client_.write(std::string_view(client_out_), client_write_done());
        client_out_.clear();
    }

    void response_complete(bool spoiled) {
        if (reframe_) client_out_.append("0\r\n\r\n");
        flush_client();
        ++lb_.backends[backend_].served;
        // The end of both messages was known from their framing, and neither side asked
        // to close: the next request may use this connection. A request body still being
        // read (an early answer) would have to be read on first: not worth it.
        const http::message& m = response_;
        const bool reusable = !spoiled && body_done_ && m.version_minor >= 1 && m.keep_alive() &&
                              !m.close_delimited() && !m.upgrade() && !lb_.draining &&
                              lb_.backends[backend_].up;
        const std::size_t b = backend_;
        release_backend();
        if (reusable) {
            ++gen_; // this exchange's callbacks are done with it
            upstream_timer_.cancel();
            upstream_.read_stop();
            upstream_connected_ = false;
            lb_.pool.put(b, std::move(upstream_));
        } else {
            close_upstream();
        }
        response_finished();
    }

    void upstream_failed(std::error_code ec) {
        if (reused_ && !response_started_ && replayable_ && backend_ != none) {
            // A parked connection the backend closed as the request went out (its
            // keep-alive timeout, a restart): the request never ran there. Once, on a
            // new connection to the same backend, which also tells whether it is down.
            return open_upstream(false);
        }
        const bool retry = !head_relayed_ && retryable_ && !retried_;
        if (backend_ != none) {
            ++lb_.backends[backend_].failed;
            if (retry)
                std::fprintf(stderr, "balancer: backend %s failed (%s), retrying on another\n",
                             lb_.backends[backend_].name.c_str(), ec.message().c_str());
        }
        release_backend();
        close_upstream();
        if (retry) {
            retried_ = true; // the backend may have run it: only safe requests, once
            return connect_upstream();
        }
        if (!head_relayed_) return respond_error(502, false);
        abort(); // half a response went out: the client can only see a cut connection
    }

    // Later callbacks of this upstream connection carry an older generation.
    void close_upstream() {
        ++gen_;
        upstream_timer_.cancel();
        upstream_.close();
        upstream_connected_ = false;
    }

    void release_backend() {
        if (backend_ == none) return;
        --lb_.backends[backend_].active;
        backend_ = none;
    }

    balancer& lb_;
    sluice::tcp_stream client_, upstream_;
    sluice::timer upstream_timer_;
    http::message_storage<64> request_, response_;
    http::parser request_parser_, response_parser_;
    std::vector<bool> tried_;
    std::string client_ip_;
    std::uint32_t key_ = 0;
    std::string input_;           // client bytes not parsed yet
    std::string upstream_head_;   // the request head as the backend gets it
    std::string pending_body_;    // request body read before the upstream connected
    std::string upstream_buffer_; // an unfinished response head
    std::string client_out_;      // relayed bytes not yet handed to client_.write
    std::size_t backend_ = none;
    unsigned gen_ = 0;
    int attempts_ = 0;
    http::verb verb_ = http::verb::get;
    unsigned client_minor_ = 1;
    bool reading_ = false, input_paused_ = false, closing_ = false;
    bool active_ = false, body_done_ = false, response_done_ = false, processing_ = false;
    bool close_after_ = false, client_keep_alive_ = true;
    bool retryable_ = false, retried_ = false, head_relayed_ = false, replayable_ = false;
    bool reused_ = false, response_started_ = false;
    bool upstream_connected_ = false, upstream_chunked_ = false, reframe_ = false, interim_ = false;
};

void start_http_conn(balancer& lb, sluice::tcp_stream client) {
    std::make_shared<http_conn>(lb, std::move(client))->start();
}

void drain_http_conns(balancer& lb) {
    std::vector<std::shared_ptr<http_conn>> conns;
    for (http_conn* c : lb.http_conns) conns.push_back(c->shared_from_this());
    for (auto& c : conns) c->drain();
}

} // namespace balancer_app
