// wss:// with sluice on both sides: ws::server behind http::server behind a tls_listener, and
// ws::connect with client_options::tls; the client verifies the server's name.
#include <sluice.hpp>
#include "adapter.hpp"

#include "certs.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <ostream>

#include <fcntl.h>
#include <unistd.h>

using namespace sluice;
using tls_test::cert_file;

namespace {

struct wss_echo {
    http::server web;
    ws::server echo;
    tls_listener listener;
    std::uint16_t port = 0;

    wss_echo(loop& lp, const char* cert) : web(lp), echo(lp), listener(lp) {
        auto ctx = test_tls_adapter::server_context::create();
        REQUIRE_FALSE(ctx->add_certificate_files(cert_file((std::string(cert) + ".pem").c_str()),
                                                 cert_file((std::string(cert) + ".key").c_str())));
        echo.on_message([](ws::connection& c, const ws::message& m) { c.send(m.op, m.data.data(), m.data.size()); });
        web.on_request([this](const http::request_view& req, http::response& res) { echo.upgrade(req, res); });
        REQUIRE_FALSE(listener.listen(endpoint::loopback_v4(0), ctx));
        listener.accept_each([this](std::error_code ec, tls_stream s) {
            if (!ec) web.serve(std::move(s));
        });
        std::error_code ec;
        port = listener.local_endpoint(ec).port();
    }
};

ws::client_options verifying() {
    auto c = test_tls_adapter::client_context::create();
    REQUIRE_FALSE(c->add_ca_file(cert_file("ca.pem")));
    ws::client_options o;
    o.tls = c;
    return o;
}

} // namespace

TEST_CASE("wss: ws::connect over TLS echoes text and 1 MiB binary, then closes cleanly") {
    loop lp;
    wss_echo srv(lp, "localhost");
    std::string big(1 << 20, 'q');
    int echoed = 0;
    std::uint16_t close_code = 0;
    std::error_code close_ec;
    ws::handlers h;
    h.on_open = [&](ws::connection& c) {
        c.send_text("over wss");
        c.send(ws::opcode::binary, big.data(), big.size());
    };
    h.on_message = [&](ws::connection& c, const ws::message& m) {
        if (echoed == 0) CHECK(m.data == "over wss");
        if (echoed == 1) CHECK(m.data == big);
        if (++echoed == 2) c.close(ws::close_code::normal);
    };
    h.on_close = [&](ws::connection&, const ws::close_status& st) {
        close_code = st.code;
        close_ec = st.ec;
        lp.stop();
    };
    ws::connection c = ws::connect(lp, "wss://localhost:" + std::to_string(srv.port) + "/echo",
                                   std::move(h), verifying());
    lp.run();
    CHECK(echoed == 2);
    CHECK(close_code == ws::close_code::normal);
    CHECK_FALSE(close_ec);
}

TEST_CASE("wss: a certificate for another name fails the dial with verify_failed") {
    loop lp;
    wss_echo srv(lp, "other");
    bool opened = false;
    std::error_code close_ec;
    ws::handlers h;
    h.on_open = [&](ws::connection&) { opened = true; };
    h.on_close = [&](ws::connection&, const ws::close_status& st) {
        close_ec = st.ec;
        lp.stop();
    };
    ws::connection c = ws::connect(lp, "wss://localhost:" + std::to_string(srv.port) + "/echo",
                                   std::move(h), verifying());
    lp.run();
    CHECK_FALSE(opened);
    CHECK(close_ec == tls::error::verify_failed);
}

TEST_CASE("wss: without a TLS context wss:// is refused, as before") {
    loop lp;
    std::error_code close_ec;
    ws::handlers h;
    h.on_close = [&](ws::connection&, const ws::close_status& st) {
        close_ec = st.ec;
        lp.stop();
    };
    ws::connection c = ws::connect(lp, "wss://localhost:1/echo", std::move(h));
    lp.run();
    CHECK(close_ec == std::errc::protocol_not_supported);
}

TEST_CASE("wss: sluice's client against python3-websockets' wss:// server") {
    // The server runs until its stdin closes (pclose), so nothing outlives the test.
    std::string cmd = "/usr/bin/python3 '" SLUICE_SOURCE_DIR "/tests/tls/wss_server.py' '" +
                      cert_file("localhost.pem") + "' '" + cert_file("localhost.key") + "'";
    int to_server[2];
    REQUIRE(pipe(to_server) == 0);
    fcntl(to_server[1], F_SETFD, FD_CLOEXEC); // only we hold the write end: closing it ends python
    // popen reads its stdout; its stdin is the read end of our pipe.
    std::string full = cmd + " <&" + std::to_string(to_server[0]);
    FILE* out = popen(full.c_str(), "r");
    REQUIRE(out);
    close(to_server[0]);
    char line[32] = {};
    REQUIRE(std::fgets(line, sizeof line, out));
    const int port = std::atoi(line);
    REQUIRE(port > 0);

    std::string got;
    std::uint16_t code = 0;
    {
        loop lp;
        ws::handlers h;
        h.on_open = [&](ws::connection& c) { c.send_text("to python over wss"); };
        h.on_message = [&](ws::connection& c, const ws::message& m) {
            got = std::string(m.data);
            c.close(ws::close_code::normal);
        };
        h.on_close = [&](ws::connection&, const ws::close_status& st) {
            code = st.code;
            lp.stop();
        };
        ws::connection c = ws::connect(lp, "wss://localhost:" + std::to_string(port) + "/",
                                       std::move(h), verifying());
        lp.run();
    } // the loop (and with it the connection) is gone before python is asked to stop: its
      // server waits for our close_notify, up to 10 s
    close(to_server[1]);
    pclose(out);
    CHECK(got == "to python over wss");
    CHECK(code == ws::close_code::normal);
}
