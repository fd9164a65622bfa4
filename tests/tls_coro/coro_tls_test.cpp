// Coroutine TLS (coro/tls.hpp): co_await connect(tls_stream, ...) through the handshake and
// co_await accept(tls_listener), against each other over loopback; cancellation and
// destruction at each suspension point complete every await exactly once.
#include "../loop/common.hpp"
#include "../tls/certs.hpp"

#include <sluice/coro.hpp>
#include <sluice/tls/openssl.hpp>

#include <memory>

using namespace std::chrono_literals;
using sluice::task;
using tls_test::cert_file;

namespace {

const std::error_code aborted = make_error_code(sluice::error::operation_aborted);
const std::error_code timed_out = make_error_code(sluice::error::timed_out);

std::shared_ptr<sluice::tls::openssl::server_context> server_ctx(const char* name = "localhost") {
    auto s = sluice::tls::openssl::server_context::create();
    REQUIRE_FALSE(s->add_certificate_files(cert_file((std::string(name) + ".pem").c_str()),
                                           cert_file((std::string(name) + ".key").c_str())));
    return s;
}
std::shared_ptr<sluice::tls::openssl::client_context> client_ctx() {
    auto c = sluice::tls::openssl::client_context::create();
    REQUIRE_FALSE(c->add_ca_file(cert_file("ca.pem")));
    return c;
}

sluice::endpoint listen_tls(sluice::tls_listener& l, std::shared_ptr<sluice::tls::context> ctx) {
    REQUIRE_FALSE(l.listen(sluice::endpoint::loopback_v4(0), std::move(ctx)));
    std::error_code ec;
    sluice::endpoint ep = l.local_endpoint(ec);
    REQUIRE_FALSE(ec);
    return ep;
}

task<void> echo_session(sluice::tls_stream s) {
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await sluice::read_some(s, buf, sizeof buf);
        if (ec) break;
        if ((co_await sluice::write(s, sluice::const_buffer(buf, n))).ec) break;
    }
}

task<void> echo_server(sluice::tls_listener& l, int sessions, sluice::loop& lp) {
    for (int i = 0; i < sessions; ++i) {
        auto r = co_await sluice::accept(l);
        if (!r) co_return;
        sluice::spawn(lp, echo_session(std::move(r.value)));
    }
}

} // namespace

TEST_CASE("coro tls: connect by name and by address through the handshake, accept, echo") {
    test::bounded_loop l;
    sluice::tls_listener listener(l);
    const sluice::endpoint ep = listen_tls(listener, server_ctx());
    sluice::spawn(l, echo_server(listener, 2, l));
    auto body = [&]() -> task<int> {
        sluice::tls_stream a(l), b(l);
        if (auto ec = co_await sluice::connect(a, "localhost", ep.port(), client_ctx())) co_return 1;
        if (auto ec = co_await sluice::connect(b, ep, "127.0.0.1", client_ctx())) co_return 2;
        if (!a.engine() || !a.engine()->handshake_done()) co_return 3;
        std::string msg = test::pattern(200000, 3), back(msg.size(), '\0');
        for (sluice::tls_stream* s : {&a, &b}) {
            if ((co_await sluice::write(*s, msg)).ec) co_return 4;
            auto r = co_await sluice::read_exact(*s, back.data(), back.size());
            if (!r || back != msg) co_return 5;
        }
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}

TEST_CASE("coro tls: a certificate for another name fails the connect; the listener goes on") {
    test::bounded_loop l;
    sluice::tls_listener listener(l);
    const sluice::endpoint ep = listen_tls(listener, server_ctx("other"));
    std::vector<std::error_code> refused;
    listener.on_handshake_error([&](std::error_code ec, const std::string&) { refused.push_back(ec); });
    sluice::spawn(l, echo_server(listener, 1, l));
    auto body = [&]() -> task<int> {
        sluice::tls_stream bad(l), good(l);
        if (co_await sluice::connect(bad, ep, "localhost", client_ctx()) !=
            sluice::tls::error::verify_failed)
            co_return 1;
        if (bad.is_open()) co_return 2;
        if (co_await sluice::connect(good, ep, "other.test", client_ctx())) co_return 3;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
    REQUIRE(l.run_until([&] { return !refused.empty(); }));
    CHECK(refused.size() == 1);
}

TEST_CASE("coro tls: cancelling a connect mid-handshake fails the stream, once") {
    test::bounded_loop l;
    // A TCP server that never answers the ClientHello: the handshake waits.
    sluice::tcp_listener mute(l);
    const auto port = test::listen_loopback(mute);
    std::vector<sluice::tcp_stream> held;
    mute.accept_each([&](std::error_code ec, sluice::tcp_stream s) {
        if (!ec) held.push_back(std::move(s));
    });
    int completions = 0;
    std::error_code timeout_ec, token_ec, close_ec;
    bool open_after = true;
    auto body = [&]() -> task<void> {
        sluice::tls_stream s(l);
        timeout_ec = co_await sluice::with_timeout(
            sluice::connect(s, sluice::endpoint::loopback_v4(port), "localhost", client_ctx()), 50ms);
        ++completions;
        open_after = s.is_open();
        // Cancelled before it starts: operation_aborted at once, nothing started.
        sluice::tls_stream t(l);
        sluice::cancellation_source pre;
        pre.cancel();
        token_ec = co_await sluice::with_cancellation(
            sluice::connect(t, "localhost", port, client_ctx()), pre.token());
        ++completions;
    };
    sluice::spawn(l, body());
    REQUIRE(l.run_until([&] { return completions == 2; }));
    CHECK(timeout_ec == timed_out);
    CHECK_FALSE(open_after); // a handshake cannot be resumed
    CHECK(token_ec == aborted);

    // Closing the stream under an await mid-handshake: operation_aborted, once.
    sluice::tls_stream c(l);
    int closed_completions = 0;
    auto closer = [&]() -> task<void> {
        close_ec = co_await sluice::connect(c, sluice::endpoint::loopback_v4(port), "localhost",
                                            client_ctx());
        ++closed_completions;
    };
    sluice::spawn(l, closer());
    REQUIRE(l.run_until([&] { return c.engine() != nullptr; })); // the handshake runs
    c.close();
    REQUIRE(l.run_until([&] { return closed_completions == 1; }));
    l.run_for(20ms);
    CHECK(closed_completions == 1);
    CHECK(close_ec == aborted);
}

TEST_CASE("coro tls: tls_stream::cancel_connect ends the handshake with one call") {
    test::bounded_loop l;
    sluice::tcp_listener mute(l);
    const auto port = test::listen_loopback(mute);
    sluice::tcp_stream held;
    mute.accept([&](std::error_code ec, sluice::tcp_stream s) {
        if (!ec) held = std::move(s);
    });
    sluice::tls_stream c(l);
    int calls = 0;
    std::error_code got;
    c.connect(sluice::endpoint::loopback_v4(port), "localhost", client_ctx(), [&](std::error_code ec) {
        ++calls;
        got = ec;
    });
    REQUIRE(l.run_until([&] { return c.engine() != nullptr && held.is_open(); }));
    CHECK(c.cancel_connect());
    CHECK_FALSE(c.cancel_connect()); // nothing runs any more
    REQUIRE(l.run_until([&] { return calls == 1; }));
    l.run_for(20ms);
    CHECK(calls == 1);
    CHECK(got == aborted);
    CHECK_FALSE(c.is_open());
}

TEST_CASE("coro tls: a cancelled accept keeps the handshakes; close and destruction abort, once") {
    test::bounded_loop l;
    auto listener = std::make_unique<sluice::tls_listener>(l);
    const sluice::endpoint ep = listen_tls(*listener, server_ctx());
    int completions = 0;
    std::error_code first_ec, second_ec, gone_ec;
    bool second_open = false;
    auto body = [&]() -> task<void> {
        // Nobody connects: the timeout cancels the accept.
        first_ec = (co_await sluice::with_timeout(sluice::accept(*listener), 10ms)).ec;
        ++completions;
        auto r = co_await sluice::accept(*listener); // the client below
        second_ec = r.ec;
        second_open = r.value.is_open() && r.value.engine() && r.value.engine()->handshake_done();
        ++completions;
        gone_ec = (co_await sluice::accept(*listener)).ec; // the listener is destroyed
        ++completions;
    };
    sluice::spawn(l, body());
    REQUIRE(l.run_until([&] { return completions == 1; }));
    sluice::tls_stream c(l);
    std::error_code cec = make_error_code(sluice::error::in_progress);
    c.connect(ep, "localhost", client_ctx(), [&](std::error_code ec) { cec = ec; });
    REQUIRE(l.run_until([&] { return completions == 2; }));
    CHECK_FALSE(cec);
    l.run_for(10ms);
    listener.reset(); // a suspended accept hears operation_aborted
    REQUIRE(l.run_until([&] { return completions == 3; }));
    l.run_for(20ms);
    CHECK(completions == 3);
    CHECK(first_ec == timed_out);
    CHECK_FALSE(second_ec);
    CHECK(second_open);
    CHECK(gone_ec == aborted);
}

TEST_CASE("coro tls: streams handshaken while no accept waits are kept, then accepting pauses") {
    test::bounded_loop l;
    sluice::tls_listener listener(l);
    const sluice::endpoint ep = listen_tls(listener, server_ctx());
    constexpr std::size_t cap = sluice::detail::tls_listener_state::max_ready;
    std::vector<sluice::tls_stream> cs;
    cs.reserve(cap + 3);
    std::size_t connected = 0;
    auto dial = [&](std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            cs.emplace_back(l);
            cs.back().connect(ep, "localhost", client_ctx(), [&](std::error_code ec) {
                if (!ec) ++connected;
            });
        }
    };
    // One accept starts the listener; `cap` more clients are handshaken and kept.
    std::size_t accepted = 0;
    listener.accept([&](std::error_code ec, sluice::tls_stream) {
        if (!ec) ++accepted;
    });
    dial(cap + 1);
    // (A TLS 1.3 client is done before the server reads its Finished: wait for both sides.)
    REQUIRE(l.run_until([&] {
        return connected == cap + 1 && accepted == 1 && listener.state_ref()->ready.size() == cap;
    }));
    CHECK_FALSE(listener.state_ref()->accepting); // paused
    // Two more wait in the kernel's backlog: nobody handshakes them while paused.
    dial(2);
    l.run_for(50ms);
    CHECK(connected == cap + 1);
    // Taking the kept streams resumes accepting: every one is handed out.
    auto body = [&]() -> task<std::size_t> {
        std::size_t n = 0;
        for (std::size_t i = 0; i < cap + 2; ++i)
            if (auto r = co_await sluice::accept(listener); r && r.value.is_open()) ++n;
        co_return n;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == cap + 2);
    CHECK(connected == cap + 3);
}

TEST_CASE("coro tls: tls_handshake on a stream accepted elsewhere; cancelled, it fails once") {
    test::bounded_loop l;
    sluice::tcp_listener plain(l);
    const auto port = test::listen_loopback(plain);
    auto sctx = server_ctx();
    int completions = 0;
    std::error_code good_ec = make_error_code(sluice::error::in_progress), stalled_ec;
    bool stalled_open = true;
    auto server = [&]() -> task<void> {
        // The first client speaks TLS: handshaken, then it echoes one message.
        auto a = co_await sluice::accept(plain);
        auto t = co_await sluice::tls_handshake(std::move(a.value), sctx);
        good_ec = t.ec;
        ++completions;
        if (!t) co_return;
        char buf[32];
        auto [ec, n] = co_await sluice::read_some(t.value, buf, sizeof buf);
        if (!ec) co_await sluice::write(t.value, std::string_view(buf, n));
        // The second says nothing: the timeout cancels its handshake.
        auto b = co_await sluice::accept(plain);
        auto u = co_await sluice::with_timeout(sluice::tls_handshake(std::move(b.value), sctx), 30ms);
        stalled_ec = u.ec;
        stalled_open = u.value.is_open();
        ++completions;
    };
    sluice::spawn(l, server());
    auto client = [&]() -> task<int> {
        sluice::tls_stream c(l);
        if (co_await sluice::connect(c, sluice::endpoint::loopback_v4(port), "localhost", client_ctx()))
            co_return 1;
        co_await sluice::write(c, "over tls_handshake");
        std::string back(18, '\0');
        auto r = co_await sluice::read_exact(c, back.data(), back.size());
        co_return r && back == "over tls_handshake" ? 0 : 2;
    };
    auto r = sluice::run_until_complete(l, client());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
    sluice::tcp_stream mute(l);
    mute.connect(sluice::endpoint::loopback_v4(port), [](std::error_code) {});
    REQUIRE(l.run_until([&] { return completions == 2; }));
    l.run_for(20ms);
    CHECK(completions == 2);
    CHECK_FALSE(good_ec);
    CHECK(stalled_ec == timed_out);
    CHECK_FALSE(stalled_open);
}
