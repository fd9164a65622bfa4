// A small L4 (TCP) and L7 (HTTP/1.1) load balancer on sluice.
//
//   balancer --listen [HOST:]PORT --mode tcp|http --policy rr|wrr|least|iphash
//            --backend HOST:PORT[=WEIGHT] [--backend ...] --health-interval MS
//            [--drain-timeout MS] [--upstream-idle N] [--upstream-idle-timeout MS]
//            [--tls-cert FILE --tls-key FILE [--tls-cert ... --tls-key ...]]
//            [--redirect-http PORT]
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
// connection (pipelined requests wait), and forwards each to a backend picked for it as
// HTTP/1.1 with keep-alive, adding X-Forwarded-For and dropping the hop-by-hop fields
// (RFC 9110 7.6.1: Connection and the fields it names, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade; Expect is answered here). Bodies stream both
// ways; the response is re-framed (chunked) only when the backend did not send a
// Content-Length. Upstream connections are reused: after a complete response whose end
// was known from its framing (Content-Length, chunked, or no body), from an HTTP/1.1
// backend that did not say `Connection: close`, with the request sent whole, the
// connection is parked in its backend's idle pool (at most --upstream-idle, default 32,
// each; closed after --upstream-idle-timeout ms, default 10000, unused). A request
// takes the most recently parked connection to the backend picked for it before it
// opens one. A parked connection the backend closes, or sends anything on, is dropped.
// Failures: a connect that fails is retried on the next healthy backend (nothing was
// sent); a reused connection that fails before any response byte (the backend closed
// it as the request went out) gets an idempotent request without body sent again on a
// fresh connection to the same backend; a backend that fails before the response head
// was relayed gets a GET/HEAD without body retried once on another backend, anything
// else is answered 502; no healthy backend is 503. A backend going down loses its pool.
//
// HTTPS (http mode only): with --tls-cert/--tls-key (PEM files) the balancer terminates
// TLS on --listen (ALPN http/1.1) and forwards plain HTTP to the backends, pooled as
// above. The first pair is the default certificate; more pairs are picked by the name
// the client asks for (SNI). Forwarded requests carry X-Forwarded-Proto: https (http on
// a plain listener); one sent by the client is replaced, as it is this hop's scheme.
// --redirect-http PORT also listens on PORT (same address as --listen) for plain HTTP
// and answers every request 301 to https://HOST[:TLSPORT]/same/path?query: HOST from the
// Host header without its port (400 without one), TLSPORT the --listen port, left out
// when it is 443. That side is an http::server: keep-alive, bodies skipped. TLS needs a
// build with SLUICE_WITH_OPENSSL; without it these flags are refused (exit 2).
//
// Backpressure: whenever the side being written to holds more than 256 KiB queued, the
// other side is not read until that queue drains to 64 KiB, in both directions, so a
// slow reader never makes the balancer buffer more than about that per connection.
//
// SIGTERM/SIGINT: the listener closes (new connections are refused), the idle pools
// close, open connections finish (http keep-alive connections close after their
// current response), and the process exits 0 when the last one closes or after
// --drain-timeout (default 10000 ms). A second signal stops at once. Per-backend
// statistics are printed on stderr at exit.
//
// Files: balancer.hpp (this: shared declarations), core.cpp (picking, health, drain),
// pool.cpp (the idle upstream pools), tcp_mode.cpp, http_mode.cpp, tls.cpp (the TLS
// context and the HTTP-to-HTTPS redirect), main.cpp (flags).
#pragma once

#include <sluice.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace balancer_app {

namespace http = sluice::http;
using std::chrono::milliseconds;

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
    std::uint64_t connects = 0, reuses = 0; // http mode: upstream connections opened, reused
};

struct options {
    sluice::endpoint listen;
    mode run_mode = mode::tcp;
    policy pick_policy = policy::rr;
    std::vector<backend> backends;
    long long health_interval_ms = 0;
    long long drain_timeout_ms = 10000;
    long long upstream_idle = 32;              // parked connections per backend
    long long upstream_idle_timeout_ms = 10000; // how long one stays parked unused
    std::vector<std::string> tls_cert, tls_key; // pairs; empty: plain HTTP on --listen
    long long redirect_http_port = 0;           // 0: no redirect listener
};

// The server context for --tls-cert/--tls-key (null and `error` set when a file does not
// load, or in a build without OpenSSL).
std::shared_ptr<sluice::tls::context> make_tls_context(const options& o, std::string& error);

// Location for the redirect of a request with this Host header value and target to
// https on tls_port; false when there is no usable host (answered 400).
bool https_location(std::string_view host, std::string_view target, std::uint16_t tls_port,
                    std::string& out);

// FNV-1a over the address bytes (not the port): one client address, one backend.
std::uint32_t address_hash(const sluice::endpoint& ep);

// Idle keep-alive connections to the backends, per backend, newest last.
class upstream_pool {
  public:
    upstream_pool(std::size_t backends, std::size_t cap, milliseconds idle_timeout)
        : idle_(backends), cap_(cap), idle_timeout_(idle_timeout) {}

    // Moves the most recently parked connection to backend `b` into `out` (the newest
    // is the least likely to have been closed by the backend meanwhile).
    bool take(std::size_t b, sluice::tcp_stream& out);
    // Parks a connection whose last exchange ended cleanly; over the cap, the oldest
    // one goes.
    void put(std::size_t b, sluice::tcp_stream s);
    void drop(std::size_t b);
    void drop_all();

  private:
    struct parked {
        sluice::tcp_stream stream;
        std::uint64_t id;
    };
    void remove(std::size_t b, std::uint64_t id);

    std::vector<std::deque<parked>> idle_;
    std::size_t cap_;
    milliseconds idle_timeout_;
    std::uint64_t next_id_ = 0;
};

class http_conn;

class balancer {
  public:
    balancer(sluice::loop& l, options o)
        : loop(l), opt(std::move(o)), backends(std::move(opt.backends)),
          pool(backends.size(), static_cast<std::size_t>(opt.upstream_idle),
               milliseconds(opt.upstream_idle_timeout_ms)),
          listener(l), health_timer(l), drain_timer(l) {}

    // Listens on --listen (and --redirect-http); `tls` set before, for HTTPS.
    std::error_code start();
    void begin_drain();
    void finish();
    void print_stats() const;

    // The backend for a new connection or request, skipping down ones and those in
    // `tried`; none when no backend is eligible.
    std::size_t pick(std::uint32_t key, const std::vector<bool>& tried);

    void mark_down(std::size_t i, const std::string& why);
    void mark_up(std::size_t i);
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
    upstream_pool pool;              // http mode
    std::shared_ptr<sluice::tls::context> tls; // HTTPS on --listen when set
    std::unique_ptr<http::server> redirect;    // --redirect-http
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

// Each mode's per-connection object, made for an accepted client.
void start_tcp_session(balancer& lb, sluice::tcp_stream client);
void start_http_conn(balancer& lb, sluice::tcp_stream client);
// The --redirect-http server: made, listening, answering.
std::error_code start_redirect(balancer& lb);
// SIGTERM in http mode: idle client connections close, busy ones after their response.
void drain_http_conns(balancer& lb);

} // namespace balancer_app
