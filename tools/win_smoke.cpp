// A self-checking smoke test of the Windows port, run under wine (or on Windows):
// every check prints on failure, the exit code is 0 only when all of them passed.
// It also builds and runs on Linux, where the Windows-only checks are skipped.
//
//   x86_64-w64-mingw32-g++-posix -std=c++20 -O1 -Iinclude tools/win_smoke.cpp
//       -static -pthread -lws2_32 -o win_smoke.exe      (one line)
//   WINEDEBUG=-all WINEPREFIX=/tmp/wine-sluice wine64 ./win_smoke.exe
#include <sluice.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int failures = 0;
int checks = 0;

void check(bool ok, const char* what, const char* context, int line) {
    ++checks;
    if (ok) return;
    ++failures;
    std::fprintf(stderr, "FAIL line %d [%s]: %s\n", line, context, what);
}
#define CHECK(ctx, cond) check((cond), #cond, (ctx), __LINE__)

std::string describe(const std::error_code& ec) {
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " " +
           ec.message();
}

// Runs the loop until done() or the limit: a check that would hang fails instead.
template <class Pred>
bool run_until(sluice::loop& l, Pred done, std::chrono::milliseconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        l.run_for(20ms);
    }
    return true;
}

std::uint64_t fnv1a(const char* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
    for (std::size_t i = 0; i < n; ++i)
        h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
    return h;
}

std::uint16_t listen_loopback(sluice::tcp_listener& l) {
    if (auto ec = l.listen(sluice::endpoint::loopback_v4(0))) {
        std::fprintf(stderr, "listen: %s\n", describe(ec).c_str());
        return 0;
    }
    std::error_code ec;
    return l.local_endpoint(ec).port();
}

void tcp_echo(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    CHECK(ctx, !l.status());
    sluice::tcp_listener lst(l);
    std::uint16_t port = listen_loopback(lst);
    CHECK(ctx, port != 0);
    lst.accept_each([](std::error_code ec, sluice::tcp_stream s) {
        if (ec) return;
        auto* conn = new sluice::tcp_stream(std::move(s));
        conn->read_start([conn](std::error_code ec, std::string_view data) {
            if (ec) return delete conn;
            conn->write(data);
        });
    });

    constexpr std::size_t total = 1 << 20;
    std::string payload(total, '\0');
    for (std::size_t i = 0; i < total; ++i)
        payload[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    const std::uint64_t want = fnv1a(payload.data(), payload.size());

    sluice::tcp_stream c(l);
    std::size_t got = 0;
    std::uint64_t sum = 1469598103934665603ull;
    std::error_code connect_ec = make_error_code(sluice::error::in_progress), read_ec;
    c.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) {
        connect_ec = ec;
        if (ec) return;
        c.write(sluice::const_buffer(payload.data(), payload.size()));
        c.read_start([&](std::error_code ec, std::string_view data) {
            if (ec) {
                read_ec = ec;
                return;
            }
            sum = fnv1a(data.data(), data.size(), sum);
            got += data.size();
            if (got >= total) c.read_stop();
        });
    });
    bool done = run_until(l, [&] {
        return got >= total || read_ec || (connect_ec && connect_ec != sluice::error::in_progress);
    });
    CHECK(ctx, done);
    CHECK(ctx, !connect_ec);
    CHECK(ctx, !read_ec);
    CHECK(ctx, got == total);
    CHECK(ctx, sum == want);
    std::error_code ec;
    CHECK(ctx, c.remote_endpoint(ec).port() == port);
    CHECK(ctx, c.local_endpoint(ec).address() == "127.0.0.1");
    l.shutdown(1s);
    std::printf("  tcp echo 1 MiB: %s\n", done && sum == want ? "ok" : "FAILED");
}

void udp_roundtrip(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    sluice::udp_socket a(l), z(l);
    CHECK(ctx, !a.bind(sluice::endpoint::loopback_v4(0)));
    CHECK(ctx, !z.bind(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    sluice::endpoint a_ep = a.local_endpoint(ec), z_ep = z.local_endpoint(ec);
    char buf[16];
    std::string first;
    std::uint16_t from_port = 0;
    std::error_code first_ec = make_error_code(sluice::error::in_progress), trunc_ec;
    std::size_t trunc_size = 0;
    bool second_done = false;
    z.recv_from(sluice::mutable_buffer(buf, sizeof buf),
                [&](std::error_code ec, std::string_view data, const sluice::endpoint& from) {
                    first_ec = ec;
                    first = std::string(data);
                    from_port = from.port();
                    // A datagram larger than the buffer: cut, and reported as such.
                    z.recv_from(
                        sluice::mutable_buffer(buf, sizeof buf),
                        [&](std::error_code ec, std::string_view data, const sluice::endpoint&) {
                            trunc_ec = ec;
                            trunc_size = data.size();
                            second_done = true;
                        });
                    a.send_to(z_ep, std::string(100, 'x'));
                });
    a.send_to(z_ep, std::string_view("ping"));
    bool done = run_until(l, [&] { return second_done; });
    CHECK(ctx, done);
    CHECK(ctx, !first_ec);
    CHECK(ctx, first == "ping");
    CHECK(ctx, from_port == a_ep.port());
    CHECK(ctx, trunc_ec == std::errc::message_size);
    CHECK(ctx, trunc_size == sizeof buf);
    std::printf("  udp send_to/recv_from (+ truncation): %s\n",
                done && first == "ping" && trunc_ec == std::errc::message_size ? "ok" : "FAILED");
}

void timers(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    struct rec {
        int id;
        std::chrono::steady_clock::duration late;
    };
    std::vector<rec> fired;
    std::vector<sluice::timer> ts;
    const int delays_ms[] = {30, 10, 20, 10, 0, 5};
    const int expected[] = {4, 5, 1, 3, 2, 0};
    ts.reserve(6);
    for (int i = 0; i < 6; ++i) {
        ts.emplace_back(l);
        // Read before start(), which takes its own (later) clock reading: firing
        // before `due` would mean firing early.
        auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(delays_ms[i]);
        ts.back().start(std::chrono::milliseconds(delays_ms[i]),
                        [&fired, i, due](std::error_code ec) {
                            if (!ec) fired.push_back({i, std::chrono::steady_clock::now() - due});
                        });
    }
    // Equal absolute deadlines fire in the order they were started.
    std::vector<int> same;
    sluice::timer s1(l), s2(l), s3(l);
    auto when = sluice::loop::clock::now() + 15ms;
    s1.start_at(when, [&](std::error_code) { same.push_back(1); });
    s2.start_at(when, [&](std::error_code) { same.push_back(2); });
    s3.start_at(when, [&](std::error_code) { same.push_back(3); });
    bool done = run_until(l, [&] { return fired.size() == 6 && same.size() == 3; });
    CHECK(ctx, done);
    bool early = false, order = fired.size() == 6;
    for (std::size_t k = 0; k < fired.size(); ++k) {
        if (fired[k].late < std::chrono::steady_clock::duration::zero()) early = true;
        if (k < 6 && fired[k].id != expected[k]) order = false;
    }
    CHECK(ctx, !early);
    CHECK(ctx, order);
    CHECK(ctx, (same == std::vector<int>{1, 2, 3}));
    // A cancelled timer completes with operation_aborted, never with success.
    sluice::timer c(l);
    std::error_code cancelled;
    c.start(10s, [&](std::error_code ec) { cancelled = ec; });
    c.cancel();
    run_until(l, [&] { return bool(cancelled); });
    CHECK(ctx, cancelled == std::errc::operation_canceled);
    std::printf("  timers (never early, order, equal deadlines, cancel): %s\n",
                done && !early && order ? "ok" : "FAILED");
}

void posting(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    constexpr int threads = 4, per_thread = 2000;
    std::vector<int> next(threads, 0);
    bool in_order = true;
    int total = 0;
    const auto loop_thread = std::this_thread::get_id();
    bool on_loop_thread = true;
    std::vector<std::thread> posters;
    {
        auto guard = l.keep_alive();
        for (int t = 0; t < threads; ++t)
            posters.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i)
                    l.post([&, t, i] {
                        if (next[static_cast<std::size_t>(t)] != i) in_order = false;
                        next[static_cast<std::size_t>(t)] = i + 1;
                        if (std::this_thread::get_id() != loop_thread) on_loop_thread = false;
                        ++total;
                    });
            });
        bool done = run_until(l, [&] { return total == threads * per_thread; });
        CHECK(ctx, done);
    }
    for (auto& t : posters) t.join();
    l.run_for(10ms);
    CHECK(ctx, total == threads * per_thread);
    CHECK(ctx, in_order);
    CHECK(ctx, on_loop_thread);
    std::printf("  post() from 4 threads (%d calls, in order per thread): %s\n", total,
                total == threads * per_thread && in_order ? "ok" : "FAILED");
}

void offload(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id work_thread, done_thread;
    long long sum = 0;
    bool finished = false;
    l.offload(
        [&] {
            work_thread = std::this_thread::get_id();
            for (int i = 1; i <= 100000; ++i) sum += i;
        },
        [&] {
            done_thread = std::this_thread::get_id();
            finished = true;
        });
    l.run(); // the outstanding job keeps run() going
    CHECK(ctx, finished);
    CHECK(ctx, sum == 5000050000LL);
    CHECK(ctx, work_thread != loop_thread);
    CHECK(ctx, done_thread == loop_thread);
    std::printf("  thread pool offload: %s\n",
                finished && work_thread != loop_thread ? "ok" : "FAILED");
}

void refused(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    std::uint16_t port = 0;
    {
        sluice::tcp_listener probe(l);
        port = listen_loopback(probe);
    } // closed: nothing listens on that port now
    sluice::tcp_stream c(l);
    std::error_code result = make_error_code(sluice::error::in_progress);
    c.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code ec) { result = ec; });
    bool done = run_until(
        l, [&] { return result != sluice::error::in_progress; }, 30s);
    CHECK(ctx, done);
    CHECK(ctx, result == std::errc::connection_refused);
    if (!(result == std::errc::connection_refused))
        std::fprintf(stderr, "    refused connect gave %s\n", describe(result).c_str());
    std::printf("  refused connect -> connection_refused: %s\n",
                result == std::errc::connection_refused ? "ok" : "FAILED");
}

void group_acceptor(sluice::backend b, const char* ctx) {
    sluice::loop_group group(2, b);
    CHECK(ctx, !group.status());
    sluice::group_listen_options opt;
    opt.spread = sluice::spread::acceptor;
    std::atomic<int> served{0};
    auto ec = group.listen(
        sluice::endpoint::loopback_v4(0),
        [&served](sluice::tcp_stream s) {
            served.fetch_add(1);
            auto* conn = new sluice::tcp_stream(std::move(s));
            conn->read_start([conn](std::error_code ec, std::string_view data) {
                if (ec) return delete conn;
                conn->write(data);
            });
        },
        opt);
    CHECK(ctx, !ec);
    std::error_code lec;
    std::uint16_t port = group.local_endpoint(lec).port();
    std::thread runner([&] { group.run(200ms); });

    sluice::loop l(b);
    constexpr int n = 8;
    int echoed = 0;
    std::vector<std::unique_ptr<sluice::tcp_stream>> clients;
    for (int i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<sluice::tcp_stream>(l));
        sluice::tcp_stream* c = clients.back().get();
        c->connect(sluice::endpoint::loopback_v4(port), [c, &echoed](std::error_code ec) {
            if (ec) return;
            c->write(std::string_view("hello group"));
            auto got = std::make_shared<std::string>();
            c->read_start([c, got, &echoed](std::error_code ec, std::string_view d) {
                if (ec) return;
                got->append(d);
                if (*got == "hello group") {
                    ++echoed;
                    c->read_stop();
                }
            });
        });
    }
    bool done = run_until(l, [&] { return echoed == n; });
    CHECK(ctx, done);
    clients.clear();
    l.shutdown(100ms);
    group.stop();
    runner.join();
    CHECK(ctx, served.load() == n);
    CHECK(ctx, group.handed(0) + group.handed(1) == static_cast<std::size_t>(n));
    CHECK(ctx, group.handed(0) > 0 && group.handed(1) > 0);
    std::printf("  loop_group acceptor, 2 loops (%zu + %zu connections): %s\n", group.handed(0),
                group.handed(1), done && served.load() == n ? "ok" : "FAILED");

#if defined(_WIN32)
    sluice::loop_group rp(2, b);
    sluice::group_listen_options reuse; // the default is the acceptor on Windows
    reuse.spread = sluice::spread::reuse_port;
    auto rp_ec = rp.listen(
        sluice::endpoint::loopback_v4(0), [](sluice::tcp_stream) {}, reuse);
    CHECK(ctx, rp_ec == std::errc::not_supported);
    std::printf("  loop_group reuse_port, 2 loops -> not_supported: %s\n",
                rp_ec == std::errc::not_supported ? "ok" : "FAILED");
#endif
}

void http_and_ws(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    sluice::http::server web(l);
    sluice::ws::server room(l);
    room.on_message([](sluice::ws::connection& c, const sluice::ws::message& m) {
        c.send(m.op, m.data.data(), m.data.size());
    });
    web.on_request([&](const sluice::http::request_view& req, sluice::http::response& res) {
        if (req.path() == "/ws") {
            room.upgrade(req, res);
            return;
        }
        res.status(200)
            .header("Content-Type", "text/plain")
            .end("hello " + std::string(req.path()));
    });
    CHECK(ctx, !web.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    std::uint16_t port = web.local_endpoint(ec).port();

    bool fetched = false;
    sluice::http::client_response resp;
    std::error_code fetch_ec;
    sluice::http::fetch(l, "http://127.0.0.1:" + std::to_string(port) + "/smoke",
                        [&](std::error_code ec, sluice::http::client_response r) {
                            fetch_ec = ec;
                            resp = std::move(r);
                            fetched = true;
                        });
    bool done = run_until(l, [&] { return fetched; });
    CHECK(ctx, done);
    CHECK(ctx, !fetch_ec);
    CHECK(ctx, resp.status == 200);
    CHECK(ctx, resp.body == "hello /smoke");
    if (fetch_ec) std::fprintf(stderr, "    fetch: %s\n", describe(fetch_ec).c_str());
    std::printf("  http::server + http::fetch: %s\n",
                !fetch_ec && resp.status == 200 && resp.body == "hello /smoke" ? "ok" : "FAILED");

    std::string echoed;
    bool closed = false;
    sluice::ws::close_status how;
    std::uint16_t close_code = 0;
    sluice::ws::handlers h;
    h.on_open = [](sluice::ws::connection& c) { c.send_text("hello ws"); };
    h.on_message = [&](sluice::ws::connection& c, const sluice::ws::message& m) {
        echoed = std::string(m.data);
        c.close(1000, "bye");
    };
    h.on_close = [&](sluice::ws::connection&, const sluice::ws::close_status& st) {
        close_code = st.code;
        closed = true;
    };
    sluice::ws::connection conn =
        sluice::ws::connect(l, "ws://127.0.0.1:" + std::to_string(port) + "/ws", std::move(h));
    done = run_until(l, [&] { return closed; });
    CHECK(ctx, done);
    CHECK(ctx, echoed == "hello ws");
    CHECK(ctx, close_code == 1000);
    std::printf("  ws echo round trip + close handshake: %s\n",
                echoed == "hello ws" && close_code == 1000 ? "ok" : "FAILED");
    web.close();
    room.close_all();
    l.shutdown(200ms);
}

#if SLUICE_HAS_COROUTINES
sluice::task<int> coro_echo(sluice::loop& l) {
    sluice::tcp_listener lst(l);
    std::uint16_t port = listen_loopback(lst);
    sluice::tcp_stream client(l);
    sluice::spawn(l, [](sluice::tcp_stream& c, std::uint16_t p) -> sluice::task<void> {
        if (co_await sluice::connect(c, sluice::endpoint::loopback_v4(p))) co_return;
        co_await sluice::write(c, std::string_view("coro"));
    }(client, port));
    auto acc = co_await sluice::accept(lst);
    if (acc.ec) co_return 1;
    char buf[8];
    auto r = co_await sluice::read_exact(acc.value, buf, 4);
    if (r.ec || std::string_view(buf, 4) != "coro") co_return 2;
    if (co_await sluice::sleep_for(l, 5ms)) co_return 3;
    co_return 0;
}

void coroutines(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    auto r = sluice::sync_wait(l, coro_echo(l));
    CHECK(ctx, r.has_value() && *r == 0);
    std::printf("  coroutines (accept, connect, read_exact, sleep_for): %s\n",
                r.has_value() && *r == 0 ? "ok" : "FAILED");
}
#endif

void resolve_localhost(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    bool done = false;
    std::error_code rec;
    std::size_t n = 0;
    sluice::resolve(l, "localhost", 80, [&](std::error_code ec, std::vector<sluice::endpoint> eps) {
        rec = ec;
        n = eps.size();
        done = true;
    });
    run_until(l, [&] { return done; });
    CHECK(ctx, done && !rec && n > 0);
    if (rec) std::fprintf(stderr, "    resolve: %s\n", describe(rec).c_str());
    std::printf("  resolve(\"localhost\"): %s\n", done && !rec && n > 0 ? "ok" : "FAILED");
}

#if defined(_WIN32)
void windows_specifics(sluice::backend b, const char* ctx) {
    sluice::loop l(b);
    // Only SIGINT (console Ctrl-C / Ctrl-Break) exists.
    CHECK(ctx, !l.on_signal(SIGINT, [](int) {}));
    l.cancel_signal(SIGINT);
    CHECK(ctx, l.on_signal(SIGTERM, [](int) {}) == std::errc::not_supported);

    // select: more than SLUICE_FD_SETSIZE sockets are refused with fd_too_large.
    if (b == sluice::backend::select) {
        std::vector<sluice::udp_socket> socks;
        int refused = 0, others = 0;
        const int extra = 5, total = static_cast<int>(SLUICE_FD_SETSIZE) + extra;
        for (int i = 0; i < total; ++i) {
            socks.emplace_back(l);
            socks.back().bind(sluice::endpoint::loopback_v4(0));
            socks.back().recv_each(
                [&](std::error_code ec, std::string_view, const sluice::endpoint&) {
                    if (ec == sluice::error::fd_too_large)
                        ++refused;
                    else if (ec)
                        ++others;
                });
        }
        l.run_for(50ms);
        // The loop's own wakeup socket holds one place in the sets.
        CHECK(ctx, refused == extra + 1);
        CHECK(ctx, others == 0);
        std::printf("  select: %d sockets refused beyond FD_SETSIZE=%d: %s\n", refused,
                    static_cast<int>(SLUICE_FD_SETSIZE), refused == extra + 1 ? "ok" : "FAILED");
    }
}
#endif

void error_category() {
    const char* ctx = "errors";
#if defined(_WIN32)
    const auto& cat = sluice::platform::win32_category();
    std::error_code refused(WSAECONNREFUSED, cat), reset(WSAECONNRESET, cat),
        wouldblock(WSAEWOULDBLOCK, cat), inuse(WSAEADDRINUSE, cat), timeout(WSAETIMEDOUT, cat),
        shut(WSAESHUTDOWN, cat);
    CHECK(ctx, refused == std::errc::connection_refused);
    CHECK(ctx, reset == std::errc::connection_reset);
    CHECK(ctx, wouldblock == std::errc::operation_would_block);
    CHECK(ctx, wouldblock == std::errc::resource_unavailable_try_again);
    CHECK(ctx, inuse == std::errc::address_in_use);
    CHECK(ctx, timeout == std::errc::timed_out);
    CHECK(ctx, shut == std::errc::broken_pipe);
    CHECK(ctx, !(refused == std::errc::connection_reset));
    std::string m = refused.message();
    CHECK(ctx, !m.empty() && m.back() != '\n' && m.back() != '\r');
    std::printf("  win32 error category (WSAECONNREFUSED: \"%s\"): %s\n", m.c_str(),
                refused == std::errc::connection_refused ? "ok" : "FAILED");
    // Two listeners on one port: the second fails with address_in_use (no SO_REUSEADDR
    // port sharing on Windows).
    sluice::loop l;
    sluice::tcp_listener one(l), two(l);
    std::uint16_t port = listen_loopback(one);
    auto ec2 = two.listen(sluice::endpoint::loopback_v4(port));
    CHECK(ctx, ec2 == std::errc::address_in_use);
    std::printf("  second listener on a used port -> address_in_use: %s\n",
                ec2 == std::errc::address_in_use ? "ok" : "FAILED");
#else
    (void)ctx;
#endif
}

} // namespace

int main() {
    std::atomic<bool> finished{false};
    // A hang anywhere fails the run instead of blocking it.
    std::thread watchdog([&] {
        for (int i = 0; i < 1800 && !finished.load(); ++i) std::this_thread::sleep_for(100ms);
        if (!finished.load()) {
            std::fprintf(stderr, "FAIL: watchdog: still running after 180 s\n");
            std::fflush(stderr);
            std::_Exit(3);
        }
    });

    std::printf("sluice %s smoke test\n", SLUICE_VERSION_STRING);
    error_category();
    for (sluice::backend b : {sluice::backend::poll, sluice::backend::select}) {
        sluice::loop probe(b);
        const char* ctx = probe.backend_name();
        std::printf("backend %s%s\n", ctx,
#if defined(_WIN32)
                    b == sluice::backend::poll ? " (WSAPoll)" : ""
#else
                    ""
#endif
        );
        if (probe.status()) {
            CHECK(ctx, !probe.status());
            continue;
        }
        tcp_echo(b, ctx);
        udp_roundtrip(b, ctx);
        timers(b, ctx);
        posting(b, ctx);
        offload(b, ctx);
        refused(b, ctx);
        group_acceptor(b, ctx);
        http_and_ws(b, ctx);
#if SLUICE_HAS_COROUTINES
        coroutines(b, ctx);
#endif
        resolve_localhost(b, ctx);
#if defined(_WIN32)
        windows_specifics(b, ctx);
#endif
    }
    {
        sluice::loop def;
        std::printf("default backend: %s\n", def.backend_name());
    }
    finished = true;
    watchdog.join();
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
