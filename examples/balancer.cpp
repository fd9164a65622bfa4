// A small L4 (TCP) and L7 (HTTP/1.1) load balancer on sluice.
//
//   balancer --listen [HOST:]PORT --mode tcp|http --policy rr|wrr|least|iphash
//            --backend HOST:PORT[=WEIGHT] [--backend ...] --health-interval MS
//            [--drain-timeout MS]
//
// Policies: rr = round robin; wrr = smooth weighted round robin (nginx's: every pick
// adds each weight to its backend's current value, takes the largest, subtracts the
// total from it); least = fewest active connections (tcp) or requests (http); iphash
// = FNV-1a of the client's address bytes, and when that backend is down the next
// healthy one in list order.
//
// Health: every --health-interval ms each backend is checked: tcp mode, a TCP connect
// succeeds; http mode, `GET /` gets any response with a status below 500. A failed
// check, or a failed connect while forwarding, takes the backend out; a passing check
// puts it back. Transitions are logged on stderr ("balancer: backend H:P down (...)").
//
// tcp mode pipes bytes both ways, with half-close; a failed connect (nothing has been
// forwarded yet: the client is read only once the upstream is connected) marks the
// backend down and tries the next healthy one, each backend at most once.
//
// http mode parses requests with the sans-I/O parser, one request at a time per client
// connection (pipelined requests wait), and forwards each to a backend picked for it on
// a fresh upstream connection (Connection: close), adding X-Forwarded-For. Bodies
// stream both ways; the response is re-framed (chunked) only when the backend did not
// send a Content-Length. Failures: a connect that fails is retried on the next healthy
// backend (nothing was sent); a backend that fails before the response head was relayed
// gets a GET/HEAD without body retried once on another backend, anything else is
// answered 502; no healthy backend is 503.
//
// Backpressure: whenever the side being written to holds more than 256 KiB queued, the
// other side is not read until that queue drains to 64 KiB, in both directions, so a
// slow reader never makes the balancer buffer more than about that per connection.
//
// SIGTERM/SIGINT: the listener closes (new connections are refused), open connections
// finish (http keep-alive connections close after their current response), and the
// process exits 0 when the last one closes or after --drain-timeout (default 10000 ms).
// A second signal stops at once. Per-backend statistics are printed on stderr at exit.
#include <sluice.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace http = sluice::http;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t none = static_cast<std::size_t>(-1);
// Stop reading the other side above `high`, resume at `low`. The hard cap only has to
// hold a request head plus what was read before the upstream connected.
const sluice::write_limits relay_limits{64 * 1024, 256 * 1024, 16 * 1024 * 1024};
const milliseconds connect_timeout{2000};
const milliseconds stall_timeout{60000}; // no progress at all on a connection

enum class mode { tcp, http };
enum class policy { rr, wrr, least, iphash };

struct backend {
    std::string name; // as given on the command line, for logs and stats
    sluice::endpoint address;
    int weight = 1;
    bool up = true; // until a check or a connect says otherwise
    bool checking = false;
    long long current = 0; // smooth weighted round robin
    std::size_t active = 0;
    std::uint64_t served = 0, failed = 0;
};

struct options {
    sluice::endpoint listen;
    mode run_mode = mode::tcp;
    policy pick_policy = policy::rr;
    std::vector<backend> backends;
    long long health_interval_ms = 0;
    long long drain_timeout_ms = 10000;
};

// FNV-1a over the address bytes (not the port): one client address, one backend.
std::uint32_t address_hash(const sluice::endpoint& ep) {
    const unsigned char* p = nullptr;
    std::size_t n = 0;
    if (ep.family() == AF_INET) {
        p = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in*>(ep.data())->sin_addr);
        n = 4;
    } else if (ep.family() == AF_INET6) {
        p = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in6*>(ep.data())->sin6_addr);
        n = 16;
    }
    std::uint32_t h = 2166136261u;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
    return h;
}

class http_conn;

class balancer {
  public:
    balancer(sluice::loop& l, options o)
        : loop(l), opt(std::move(o)), backends(std::move(opt.backends)), listener(l),
          health_timer(l), drain_timer(l) {}

    std::error_code start();
    void begin_drain();
    void finish();
    void print_stats() const;

    // The backend for a new connection or request, skipping down ones and those in
    // `tried`; none when no backend is eligible.
    std::size_t pick(std::uint32_t key, const std::vector<bool>& tried) {
        const std::size_t n = backends.size();
        auto eligible = [&](std::size_t i) { return backends[i].up && !tried[i]; };
        std::size_t best = none;
        switch (opt.pick_policy) {
        case policy::rr:
            for (std::size_t k = 0; k < n && best == none; ++k)
                if (eligible((next_ + k) % n)) best = (next_ + k) % n;
            break;
        case policy::wrr: {
            long long total = 0;
            for (std::size_t i = 0; i < n; ++i) {
                if (!eligible(i)) continue;
                backends[i].current += backends[i].weight;
                total += backends[i].weight;
                if (best == none || backends[i].current > backends[best].current) best = i;
            }
            if (best != none) backends[best].current -= total;
            return best;
        }
        case policy::least: // ties go round robin, so equal loads still rotate
            for (std::size_t k = 0; k < n; ++k) {
                std::size_t i = (next_ + k) % n;
                if (eligible(i) && (best == none || backends[i].active < backends[best].active))
                    best = i;
            }
            break;
        case policy::iphash:
            for (std::size_t k = 0; k < n && best == none; ++k)
                if (eligible((key + k) % n)) best = (key + k) % n;
            return best;
        }
        if (best != none) next_ = (best + 1) % n;
        return best;
    }

    void mark_down(std::size_t i, const std::string& why) {
        if (!backends[i].up || stopped) return;
        backends[i].up = false;
        std::fprintf(stderr, "balancer: backend %s down (%s)\n", backends[i].name.c_str(),
                     why.c_str());
    }
    void mark_up(std::size_t i) {
        if (backends[i].up || stopped) return;
        backends[i].up = true;
        backends[i].current = 0;
        std::fprintf(stderr, "balancer: backend %s up\n", backends[i].name.c_str());
    }
    void connect_failed(std::size_t i, std::error_code ec) {
        ++backends[i].failed;
        mark_down(i, ec == sluice::error::operation_aborted ? "connect timed out"
                                                            : "connect: " + ec.message());
    }

    // Closes a finished stream; the handle may be dropped at once, even from inside
    // its own handlers.
    static void discard(sluice::tcp_stream s) { s.close(); }

    void connection_opened() { ++open_; }
    void connection_closed() {
        --open_;
        if (draining && open_ == 0) finish();
    }

    sluice::loop& loop;
    options opt;
    std::vector<backend> backends;
    std::set<http_conn*> http_conns; // to tell them about a drain
    bool draining = false, stopped = false;

  private:
    void check_all();
    void check_done(std::size_t i, bool ok, const std::string& why) {
        backends[i].checking = false;
        if (ok)
            mark_up(i);
        else
            mark_down(i, why);
    }

    sluice::tcp_listener listener;
    sluice::timer health_timer, drain_timer;
    std::size_t next_ = 0;
    std::size_t open_ = 0;
};

// ---------------------------------------------------------------------------------
// tcp mode: one client connection piped to one backend connection.

class tcp_session : public std::enable_shared_from_this<tcp_session> {
  public:
    tcp_session(balancer& lb, sluice::tcp_stream client)
        : lb_(lb), client_(std::move(client)), connect_timer_(lb.loop),
          tried_(lb.backends.size(), false) {
        lb_.connection_opened();
    }
    ~tcp_session() {
        release_backend();
        lb_.discard(std::move(client_));
        lb_.discard(std::move(upstream_));
        lb_.connection_closed();
    }

    void start() {
        client_.set_nodelay(true);
        client_.set_write_limits(relay_limits);
        client_.set_timeouts(milliseconds(0), milliseconds(0), stall_timeout);
        std::error_code ec;
        sluice::endpoint peer = client_.remote_endpoint(ec);
        key_ = ec ? 0 : address_hash(peer);
        connect_next();
    }

  private:
    void connect_next() {
        backend_ = lb_.pick(key_, tried_);
        if (backend_ == none) return client_.close(); // nothing healthy left
        tried_[backend_] = true;
        ++lb_.backends[backend_].active;
        lb_.discard(std::move(upstream_)); // the failed attempt's, if any
        upstream_ = sluice::tcp_stream(lb_.loop);
        auto self = shared_from_this();
        connect_timer_.start(connect_timeout, [self](std::error_code ec) {
            if (!ec) self->upstream_.cancel_connect();
        });
        upstream_.connect(lb_.backends[backend_].address,
                          [self](std::error_code ec) { self->on_connected(ec); });
    }

    void on_connected(std::error_code ec) {
        connect_timer_.cancel();
        if (!client_.is_open()) return; // closed by a forced stop meanwhile
        if (ec) {
            lb_.connect_failed(backend_, ec);
            release_backend();
            return connect_next();
        }
        ++lb_.backends[backend_].served;
        upstream_.set_nodelay(true);
        upstream_.set_write_limits(relay_limits);
        upstream_.set_timeouts(milliseconds(0), milliseconds(0), stall_timeout);
        pump(0);
        pump(1);
    }

    // Direction 0 is client -> upstream, 1 is upstream -> client.
    sluice::tcp_stream& source(int dir) { return dir ? upstream_ : client_; }
    sluice::tcp_stream& sink(int dir) { return dir ? client_ : upstream_; }

    void pump(int dir) {
        auto self = shared_from_this();
        source(dir).read_start([self, dir](std::error_code ec, std::string_view data) {
            self->on_data(dir, ec, data);
        });
    }

    void on_data(int dir, std::error_code ec, std::string_view data) {
        if (ec) {
            if (ec == sluice::error::operation_aborted) return; // we closed it
            if (ec != sluice::error::eof) return abort();
            sink(dir).shutdown_write(); // pass the half-close on, after the queued bytes
            finished_[dir] = true;
            if (finished_[0] && finished_[1]) {
                client_.close_after_flush();
                upstream_.close_after_flush();
            }
            return;
        }
        auto self = shared_from_this();
        sink(dir).write(data, [self](std::error_code wec, std::size_t) {
            if (wec && wec != sluice::error::operation_aborted) self->abort();
        });
        if (sink(dir).write_queue_high()) {
            source(dir).read_stop();
            sink(dir).on_drain([self, dir] { self->pump(dir); });
        }
    }

    void abort() {
        client_.close();
        upstream_.close();
    }

    void release_backend() {
        if (backend_ == none) return;
        --lb_.backends[backend_].active;
        backend_ = none;
    }

    balancer& lb_;
    sluice::tcp_stream client_, upstream_;
    sluice::timer connect_timer_;
    std::vector<bool> tried_;
    std::size_t backend_ = none;
    std::uint32_t key_ = 0;
    bool finished_[2] = {false, false};
};

// ---------------------------------------------------------------------------------
// http mode: one client connection; each request goes to a backend picked for it.

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

    void update_reading() {
        bool want = client_.is_open() && !closing_ && !input_paused_ && !(active_ && body_done_);
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
            if (http::detail::iequals(h.name, "x-forwarded-for")) {
                forwarded_for.append(h.value.data(), h.value.size());
                forwarded_for += ", ";
                continue;
            }
            s.header(h.name, h.value);
        }
        forwarded_for += client_ip_;
        s.header("X-Forwarded-For", forwarded_for);
        if (m.has_body() && m.has_content_length()) {
            s.content_length(m.content_length);
        } else if (m.has_body()) {
            s.chunked();
            upstream_chunked_ = true;
        } else if (m.verb == http::verb::post || m.verb == http::verb::put ||
                   m.verb == http::verb::patch) {
            s.content_length(0);
        }
        s.header("Connection", "close").end_head();
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
        close_upstream();
        lb_.discard(std::move(upstream_));
        upstream_ = sluice::tcp_stream(lb_.loop);
        upstream_connected_ = false;
        upstream_buffer_.clear();
        response_parser_.reset();
        response_parser_.response_to(verb_);
        interim_ = false;
        reframe_ = false;
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
        upstream_.set_nodelay(true);
        upstream_.set_write_limits(relay_limits);
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
                return response_complete();
            } else if (r.ev == http::event::upgrade) {
                return upstream_failed(std::make_error_code(std::errc::protocol_not_supported));
            } else {
                return upstream_failed(response_parser_.error());
            }
        }
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
        std::string head;
        http::serializer<std::string> s(head);
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
            upstream_failed(s.error());
            return false;
        }
        head_relayed_ = true;
        client_.write(std::string_view(head), client_write_done());
        return true;
    }

    void relay_body(std::string_view data) {
        if (data.empty()) return;
        if (!reframe_) return client_.write(data, client_write_done());
        char size[24];
        int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        sluice::const_buffer parts[3] = {sluice::const_buffer(size, static_cast<std::size_t>(n)),
                                         sluice::const_buffer(data),
                                         sluice::const_buffer(std::string_view("\r\n"))};
        client_.write(parts, 3, client_write_done());
    }

    void response_complete() {
        if (reframe_) client_.write(std::string_view("0\r\n\r\n"), client_write_done());
        ++lb_.backends[backend_].served;
        release_backend();
        close_upstream();
        response_finished();
    }

    void upstream_failed(std::error_code ec) {
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
    std::size_t backend_ = none;
    unsigned gen_ = 0;
    int attempts_ = 0;
    http::verb verb_ = http::verb::get;
    unsigned client_minor_ = 1;
    bool reading_ = false, input_paused_ = false, closing_ = false;
    bool active_ = false, body_done_ = false, response_done_ = false, processing_ = false;
    bool close_after_ = false, client_keep_alive_ = true;
    bool retryable_ = false, retried_ = false, head_relayed_ = false;
    bool upstream_connected_ = false, upstream_chunked_ = false, reframe_ = false, interim_ = false;
};

// ---------------------------------------------------------------------------------

std::error_code balancer::start() {
    if (auto ec = listener.listen(opt.listen)) return ec;
    listener.accept_each([this](std::error_code ec, sluice::tcp_stream s) {
        if (ec || draining) return;
        if (opt.run_mode == mode::tcp)
            std::make_shared<tcp_session>(*this, std::move(s))->start();
        else
            std::make_shared<http_conn>(*this, std::move(s))->start();
    });
    health_timer.start(milliseconds(0), milliseconds(opt.health_interval_ms),
                       [this](std::error_code ec) {
                           if (!ec) check_all();
                       });
    return {};
}

void balancer::check_all() {
    // A check may take up to its timeout; a slow one is not started twice.
    const milliseconds timeout(
        std::min<long long>(std::max<long long>(opt.health_interval_ms, 1000), 5000));
    for (std::size_t i = 0; i < backends.size(); ++i) {
        if (backends[i].checking) continue;
        backends[i].checking = true;
        if (opt.run_mode == mode::http) {
            http::request_options ro;
            ro.timeout = timeout;
            ro.max_response = 64 * 1024;
            http::fetch(loop, "http://" + backends[i].address.to_string() + "/", std::move(ro),
                        [this, i](std::error_code ec, http::client_response res) {
                            if (!ec && res.status >= 500)
                                return check_done(
                                    i, false, "health check: status " + std::to_string(res.status));
                            check_done(i, !ec, "health check: " + ec.message());
                        });
            continue;
        }
        struct probe {
            explicit probe(sluice::loop& l) : stream(l), timer(l) {}
            sluice::tcp_stream stream;
            sluice::timer timer;
        };
        auto p = std::make_shared<probe>(loop);
        p->timer.start(timeout, [p](std::error_code ec) {
            if (!ec) p->stream.cancel_connect();
        });
        p->stream.connect(backends[i].address, [this, p, i](std::error_code ec) {
            p->timer.cancel();
            discard(std::move(p->stream));
            check_done(i, !ec,
                       ec == sluice::error::operation_aborted ? "health check timed out"
                                                              : "health check: " + ec.message());
        });
    }
}

void balancer::begin_drain() {
    draining = true;
    listener.close();
    health_timer.cancel();
    std::fprintf(stderr, "balancer: draining %zu connection(s)\n", open_);
    if (open_ == 0) return finish();
    drain_timer.start(milliseconds(opt.drain_timeout_ms), [this](std::error_code ec) {
        if (ec) return;
        std::fprintf(stderr, "balancer: drain timeout, closing %zu connection(s)\n", open_);
        finish();
    });
    std::vector<std::shared_ptr<http_conn>> conns;
    for (http_conn* c : http_conns) conns.push_back(c->shared_from_this());
    for (auto& c : conns) c->drain();
}

void balancer::finish() {
    if (stopped) return;
    stopped = true;
    drain_timer.cancel();
    loop.stop();
}

void balancer::print_stats() const {
    const char* unit = opt.run_mode == mode::tcp ? "connections" : "requests";
    for (const backend& b : backends)
        std::fprintf(stderr, "balancer: stats backend %s weight=%d %s=%llu failed=%llu %s\n",
                     b.name.c_str(), b.weight, unit, static_cast<unsigned long long>(b.served),
                     static_cast<unsigned long long>(b.failed), b.up ? "up" : "down");
}

// ---------------------------------------------------------------------------------
// Command line.

bool parse_number(const char* s, long long lo, long long hi, long long& out) {
    if (!*s) return false;
    char* end = nullptr;
    long long v = std::strtoll(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    out = v;
    return true;
}

// "HOST:PORT" or "[V6]:PORT"; HOST may be a name (resolved once, at start).
bool parse_host_port(std::string_view text, sluice::endpoint& out) {
    std::string host;
    std::string_view port;
    if (!text.empty() && text[0] == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
    }
    long long p = 0;
    if (host.empty() || !parse_number(std::string(port).c_str(), 1, 65535, p)) return false;
    std::error_code ec;
    out = sluice::endpoint::parse(host, static_cast<std::uint16_t>(p), ec);
    if (!ec) return true;
    std::vector<sluice::endpoint> found =
        sluice::resolve_now(host, static_cast<std::uint16_t>(p), SOCK_STREAM, ec);
    if (ec || found.empty()) return false;
    out = found.front();
    return true;
}

bool parse_args(int argc, char** argv, options& o) {
    bool have_listen = false, have_mode = false, have_policy = false, have_interval = false;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return false;
        std::string_view flag = argv[i];
        const char* value = argv[i + 1];
        long long n = 0;
        if (flag == "--listen") {
            std::string_view v = value;
            if (v.find(':') == std::string_view::npos) {
                if (!parse_number(value, 1, 65535, n)) return false;
                o.listen = sluice::endpoint::any_v4(static_cast<std::uint16_t>(n));
            } else if (!parse_host_port(v, o.listen)) {
                return false;
            }
            have_listen = true;
        } else if (flag == "--mode") {
            std::string_view v = value;
            if (v != "tcp" && v != "http") return false;
            o.run_mode = v == "tcp" ? mode::tcp : mode::http;
            have_mode = true;
        } else if (flag == "--policy") {
            std::string_view v = value;
            if (v == "rr")
                o.pick_policy = policy::rr;
            else if (v == "wrr")
                o.pick_policy = policy::wrr;
            else if (v == "least")
                o.pick_policy = policy::least;
            else if (v == "iphash")
                o.pick_policy = policy::iphash;
            else
                return false;
            have_policy = true;
        } else if (flag == "--backend") {
            std::string_view v = value;
            backend b;
            std::size_t eq = v.find('=');
            if (eq != std::string_view::npos) {
                if (!parse_number(std::string(v.substr(eq + 1)).c_str(), 1, 1000, n)) return false;
                b.weight = static_cast<int>(n);
                v = v.substr(0, eq);
            }
            if (!parse_host_port(v, b.address)) return false;
            b.name = std::string(v);
            o.backends.push_back(std::move(b));
        } else if (flag == "--health-interval") {
            if (!parse_number(value, 1, 3600 * 1000, o.health_interval_ms)) return false;
            have_interval = true;
        } else if (flag == "--drain-timeout") {
            if (!parse_number(value, 0, 3600 * 1000, o.drain_timeout_ms)) return false;
        } else {
            return false;
        }
    }
    return have_listen && have_mode && have_policy && have_interval && !o.backends.empty();
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    if (!parse_args(argc, argv, opt)) {
        std::fprintf(stderr, "usage: balancer --listen [HOST:]PORT --mode tcp|http "
                             "--policy rr|wrr|least|iphash\n"
                             "                --backend HOST:PORT[=WEIGHT] [--backend ...] "
                             "--health-interval MS [--drain-timeout MS]\n");
        return 2;
    }
    sluice::loop loop;
    if (auto ec = loop.status()) {
        std::fprintf(stderr, "balancer: %s\n", ec.message().c_str());
        return 1;
    }
    balancer lb(loop, std::move(opt));
    if (auto ec = lb.start()) {
        std::fprintf(stderr, "balancer: listen on %s: %s\n", lb.opt.listen.to_string().c_str(),
                     ec.message().c_str());
        return 1;
    }
    auto on_stop_signal = [&lb](int) {
        if (lb.draining)
            lb.finish(); // a second signal: stop now
        else
            lb.begin_drain();
    };
    loop.on_signal(SIGINT, on_stop_signal);
    loop.on_signal(SIGTERM, on_stop_signal); // not supported on Windows: Ctrl-C only
    std::fprintf(stderr, "balancer: listening on %s, mode %s, %zu backend(s)\n",
                 lb.opt.listen.to_string().c_str(), lb.opt.run_mode == mode::tcp ? "tcp" : "http",
                 lb.backends.size());
    loop.run();
    lb.stopped = true;
    // Close what is left and run the aborted completions, so every session is freed.
    loop.shutdown(milliseconds(0));
    lb.print_stats();
    return 0;
}
