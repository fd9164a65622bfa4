// TLS streams on the loop: tls_listener and tls_stream against each other over loopback,
// and plain TCP peers that misbehave (garbage, a stall) against the listener.
#include <sluice.hpp>
#include "adapter.hpp"

#include "certs.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <ostream>

#if SLUICE_HAS_SENDFILE
#include <cstdlib>
#include <unistd.h>
#endif

using namespace sluice;
using tls_test::cert_file;

namespace {

std::shared_ptr<test_tls_adapter::server_context> server_ctx(const char* name = "localhost") {
    auto s = test_tls_adapter::server_context::create();
    REQUIRE_FALSE(s->add_certificate_files(cert_file((std::string(name) + ".pem").c_str()),
                                           cert_file((std::string(name) + ".key").c_str())));
    return s;
}
std::shared_ptr<test_tls_adapter::client_context> client_ctx() {
    auto c = test_tls_adapter::client_context::create();
    REQUIRE_FALSE(c->add_ca_file(cert_file("ca.pem")));
    return c;
}

// An echo server on a tls_listener: every handshaken stream echoes until eof.
struct echo_server {
    loop& lp;
    tls_listener listener;
    std::vector<tls_stream> streams;
    std::vector<std::error_code> handshake_errors;
    std::vector<std::string> reasons;
    std::vector<std::error_code> read_ends;
    endpoint where;

    echo_server(loop& l, std::shared_ptr<tls::context> ctx, tls_options opt = {})
        : lp(l), listener(l) {
        REQUIRE_FALSE(listener.listen(endpoint::loopback_v4(0), std::move(ctx), opt));
        std::error_code ec;
        where = listener.local_endpoint(ec);
        listener.on_handshake_error([this](std::error_code e, const std::string& why) {
            handshake_errors.push_back(e);
            reasons.push_back(why);
        });
        listener.accept_each([this](std::error_code e, tls_stream s) {
            if (e) return;
            streams.push_back(std::move(s));
            tls_stream* sp = &streams.back();
            std::size_t idx = streams.size() - 1;
            sp->read_start([this, idx](std::error_code re, std::string_view data) {
                if (re) {
                    read_ends.push_back(re);
                    streams[idx].close();
                    return;
                }
                streams[idx].write(data);
            });
        });
    }
};

} // namespace

TEST_CASE("tls stream: echo both ways, a megabyte, close_notify is a clean eof") {
    loop lp;
    auto sctx = server_ctx();
    sctx->set_alpn({"http/1.1"});
    echo_server srv(lp, sctx);
    srv.streams.reserve(8);
    auto cctx = client_ctx();
    cctx->set_alpn({"http/1.1"});
    tls_stream c(lp);
    std::string sent(1 << 20, 'x');
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>('a' + (i * 7) % 26);
    std::string got;
    std::error_code connect_ec = make_error_code(error::in_progress), end_ec;
    std::string alpn;
    c.connect(srv.where, "localhost", cctx, [&](std::error_code ec) {
        connect_ec = ec;
        if (ec) return;
        alpn = c.alpn();
        c.write(sent);
        c.read_start([&](std::error_code re, std::string_view d) {
            if (re) {
                end_ec = re;
                return;
            }
            got.append(d);
            if (got.size() == sent.size()) c.close(); // sends close_notify
        });
    });
    // The server's read ends with eof (close_notify), then it closes; stop when it did.
    timer t(lp);
    t.start(std::chrono::milliseconds(10), std::chrono::milliseconds(10), [&](std::error_code) {
        if (!srv.read_ends.empty()) lp.stop();
    });
    lp.run();
    CHECK_FALSE(connect_ec);
    CHECK(alpn == "http/1.1");
    CHECK(got == sent);
    REQUIRE(srv.read_ends.size() == 1);
    CHECK(srv.read_ends[0] == error::eof);
    CHECK(srv.handshake_errors.empty());
}

TEST_CASE("tls stream: a certificate for another name is refused; the listener goes on") {
    loop lp;
    echo_server srv(lp, server_ctx("other"));
    srv.streams.reserve(8);
    auto cctx = client_ctx();
    tls_stream bad(lp), good(lp);
    std::error_code bad_ec, good_ec = make_error_code(error::in_progress);
    std::string bad_why;
    int done = 0;
    bad.connect(srv.where, "localhost", cctx, [&](std::error_code ec) {
        bad_ec = ec;
        bad_why = bad.tls_error();
        // Then one that asks for the name the certificate has: accepted.
        good.connect(srv.where, "other.test", cctx, [&](std::error_code gec) {
            good_ec = gec;
            ++done;
            lp.stop();
        });
    });
    lp.run();
    CHECK(done == 1);
    CHECK(bad_ec == tls::error::verify_failed);
    CHECK(bad_why.find("hostname mismatch") != std::string::npos);
    CHECK_FALSE(bad.is_open());
    CHECK_FALSE(good_ec);
}

TEST_CASE("tls stream: garbage instead of a ClientHello: a clear error, that connection closed") {
    loop lp;
    echo_server srv(lp, server_ctx());
    tcp_stream raw(lp);
    std::error_code raw_end;
    raw.connect(srv.where, [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        raw.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        raw.read_start([&](std::error_code re, std::string_view) {
            if (re) {
                raw_end = re;
                lp.stop();
            }
        });
    });
    lp.run();
    REQUIRE(srv.handshake_errors.size() == 1);
    CHECK(srv.handshake_errors[0] == tls::error::handshake_failed);
    CHECK_FALSE(srv.reasons[0].empty());
    CHECK(static_cast<bool>(raw_end)); // eof or reset: the server closed it
    CHECK(srv.streams.empty());
}

TEST_CASE("tls stream: a stalled handshake ends with the handshake timeout") {
    loop lp;
    tls_options opt;
    opt.handshake_timeout = std::chrono::milliseconds(100);
    echo_server srv(lp, server_ctx(), opt);
    tcp_stream raw(lp);
    std::error_code raw_end;
    raw.connect(srv.where, [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        raw.write(std::string_view("\x16\x03\x01", 3)); // a record header, then silence
        raw.read_start([&](std::error_code re, std::string_view) {
            if (re) {
                raw_end = re;
                lp.stop();
            }
        });
    });
    lp.run();
    REQUIRE(srv.handshake_errors.size() == 1);
    CHECK(srv.handshake_errors[0] == error::timed_out);
    CHECK(static_cast<bool>(raw_end));
}

// The handshake reads on its own; the user's read interest governs plaintext only. A
// read_stop() while the client handshakes (the server answers only afterwards) used to drop
// the handshake's reading with it, and the handshake then ended with its timeout.
TEST_CASE("tls stream: read_stop during the client's handshake does not stall it") {
    loop lp;
    tcp_listener plain(lp);
    REQUIRE_FALSE(plain.listen(endpoint::loopback_v4(0)));
    std::error_code lec;
    const endpoint where = plain.local_endpoint(lec);
    tcp_stream accepted;
    plain.accept([&](std::error_code ec, tcp_stream s) {
        REQUIRE_FALSE(ec);
        accepted = std::move(s);
    });
    tls_options opt;
    opt.handshake_timeout = std::chrono::milliseconds(500);
    tls_stream c(lp);
    std::error_code connect_ec = make_error_code(error::in_progress);
    std::string got;
    c.connect(where, "localhost", client_ctx(), [&](std::error_code ec) {
        connect_ec = ec;
        if (ec) return lp.stop();
        c.read_start([&](std::error_code re, std::string_view d) {
            if (re) return lp.stop();
            got.append(d);
            if (got == "kept for the reader") lp.stop();
        });
    }, opt);
    tls_stream served;
    // Once the client's handshake runs (its engine exists) and the server holds the
    // connection: the client stops reading, then the server starts its side.
    timer poll(lp);
    poll.start(std::chrono::milliseconds(1), std::chrono::milliseconds(1), [&](std::error_code pe) {
        if (pe || !c.engine() || !accepted.is_open()) return;
        poll.cancel();
        c.read_stop();
        tls_accept(std::move(accepted), server_ctx(), [&](std::error_code ec, tls_stream s) {
            REQUIRE_FALSE(ec);
            served = std::move(s);
            served.write("kept for the reader"); // may arrive with the handshake's end
        });
    });
    lp.run();
    CHECK_FALSE(connect_ec); // not error::timed_out
    CHECK(got == "kept for the reader");
}

// A read started before the handshake ends is the owner's: kept through the handshake (it
// used to be replaced by the handshake's own reading, and never called), and given
// plaintext only after the connect's handler has run.
TEST_CASE("tls stream: a read started during the handshake gets plaintext after the connect") {
    loop lp;
    tls_listener listener(lp);
    REQUIRE_FALSE(listener.listen(endpoint::loopback_v4(0), server_ctx()));
    std::error_code lec;
    const endpoint where = listener.local_endpoint(lec);
    tls_stream served;
    listener.accept_each([&](std::error_code ec, tls_stream s) {
        if (ec) return;
        served = std::move(s);
        served.write("first words");
    });
    tls_stream c(lp);
    std::vector<std::string> order;
    std::string got;
    c.connect(where, "localhost", client_ctx(), [&](std::error_code ec) {
        order.push_back(ec ? "connect failed" : "connect");
    });
    c.read_start([&](std::error_code re, std::string_view d) {
        if (re) {
            order.push_back("read error");
            return lp.stop();
        }
        if (got.empty()) order.push_back("data");
        got.append(d);
        if (got == "first words") lp.stop();
    });
    timer guard(lp); // a lost read would otherwise wait for ever: fail instead
    guard.start(std::chrono::seconds(10), [&](std::error_code ec) {
        if (!ec) lp.stop();
    });
    lp.run();
    CHECK(order == std::vector<std::string>{"connect", "data"});
    CHECK(got == "first words");
}

TEST_CASE("tls stream: read_some into a small buffer gets every byte in order; a cut is an error") {
    loop lp;
    echo_server srv(lp, server_ctx());
    srv.streams.reserve(8);
    tls_stream c(lp);
    std::string got;
    char buf[7];
    std::error_code end;
    std::function<void()> next = [&] {
        c.read_some(mutable_buffer(buf, sizeof buf), [&](std::error_code re, std::size_t n) {
            if (re) {
                end = re;
                return lp.stop();
            }
            got.append(buf, n);
            if (got.size() == 26) {
                // The server's stream is cut under it: no close_notify reaches us.
                platform::shutdown_write(srv.streams.at(0).native_handle());
            }
            next();
        });
    };
    c.connect(srv.where, "127.0.0.1", client_ctx(), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        c.write("abcdefghijklmnopqrstuvwxyz");
        next();
    });
    lp.run();
    CHECK(got == "abcdefghijklmnopqrstuvwxyz");
    CHECK(end == tls::error::truncated);
}

TEST_CASE("tls stream: cancelling a queued write fails the stream (records are numbered)") {
    loop lp;
    auto sctx = server_ctx();
    tls_listener listener(lp);
    REQUIRE_FALSE(listener.listen(endpoint::loopback_v4(0), sctx));
    tls_stream served; // accepted, never read: the client's writes queue up
    listener.accept_each([&](std::error_code ec, tls_stream s) {
        if (!ec) served = std::move(s);
    });
    std::error_code lec;
    const endpoint where = listener.local_endpoint(lec);
    tls_stream c(lp);
    std::error_code big_ec, small_ec, on_error_ec;
    bool cancelled = false, open_after = true;
    c.connect(where, "localhost", client_ctx(), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        c.on_error([&](std::error_code e) { on_error_ec = e; });
        c.write(std::string(16 << 20, 'z'), [&](std::error_code e, std::size_t) { big_ec = e; });
        // Last in the queue and not started: a plain stream would withdraw it and stay open.
        const std::uint64_t id = c.write_with_id(const_buffer("tail", 4), [&](std::error_code e, std::size_t) {
            small_ec = e;
            lp.stop();
        });
        REQUIRE(id != 0);
        cancelled = c.cancel_write(id);
        open_after = c.is_open();
    });
    lp.run();
    CHECK(cancelled);
    CHECK_FALSE(open_after);
    CHECK(small_ec == error::operation_aborted);
    CHECK(big_ec == error::operation_aborted);
    CHECK(on_error_ec == error::operation_aborted);
}

#if SLUICE_HAS_SENDFILE
// Zero-copy file bytes would go to the socket around the engine: in clear text, in the
// middle of the record stream. A TLS stream must take nothing, so static_files (and any
// caller) writes those bytes through the engine instead.
TEST_CASE("tls stream: send_file_now takes nothing (the bytes must be encrypted)") {
    loop lp;
    echo_server srv(lp, server_ctx());
    srv.streams.reserve(8);
    char path[] = "/tmp/sluice-tls-sendfile-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    REQUIRE(::write(fd, "clear text must not leak", 24) == 24);
    tls_stream c(lp);
    long long taken = -2;
    std::string echoed;
    c.connect(srv.where, "localhost", client_ctx(), [&](std::error_code ec) {
        REQUIRE_FALSE(ec);
        taken = c.send_file_now(fd, 0, 24);
        c.write("through the engine");
        c.read_start([&](std::error_code re, std::string_view d) {
            if (re) return lp.stop();
            echoed.append(d);
            if (echoed.size() >= 18) lp.stop();
        });
    });
    lp.run();
    ::close(fd);
    CHECK(taken == 0);
    CHECK(echoed == "through the engine");
    CHECK(srv.handshake_errors.empty());
}
#endif
