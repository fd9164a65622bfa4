// WebSocket echo server: accepts the upgrade on any path and sends every message back as
// it came (text as text, binary as binary), up to 16 MiB per message (larger ones close
// the connection with 1009). A client that stops reading pauses its own input: while the
// echo queue is above its high watermark the connection reads nothing more.
//
// --deflate on: permessage-deflate (RFC 7692) for clients that offer it, with context
// takeover unless the client asks for none; the build links zlib for it (SLUICE_WITH_ZLIB).
//
// --tls-cert FILE --tls-key FILE (PEM): wss:// instead of ws:// (ALPN http/1.1); needs a build
// with SLUICE_WITH_OPENSSL (CMake -DSLUICE_WITH_OPENSSL=ON), without which it refuses to start.
//
//   ws_echo [--port 9001] [--host 127.0.0.1] [--max-message BYTES] [--deflate on|off]
//           [--tls-cert FILE --tls-key FILE]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace http = sluice::http;
namespace ws = sluice::ws;

int main(int argc, char** argv) {
    std::uint16_t port = 9001;
    std::string host = "127.0.0.1";
    unsigned long long max_message = 16ull << 20;
    bool deflate = false;
    std::string tls_cert, tls_key;
    for (int i = 1; i < argc; i += 2) {
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (v && !std::strcmp(argv[i], "--port"))
            port = static_cast<std::uint16_t>(std::atoi(v));
        else if (v && !std::strcmp(argv[i], "--host"))
            host = v;
        else if (v && !std::strcmp(argv[i], "--max-message"))
            max_message = std::strtoull(v, nullptr, 10);
        else if (v && !std::strcmp(argv[i], "--deflate") &&
                 (!std::strcmp(v, "on") || !std::strcmp(v, "off")))
            deflate = !std::strcmp(v, "on");
        else if (v && !std::strcmp(argv[i], "--tls-cert"))
            tls_cert = v;
        else if (v && !std::strcmp(argv[i], "--tls-key"))
            tls_key = v;
        else {
            std::fprintf(stderr, "usage: ws_echo [--port P] [--host ADDR] [--max-message BYTES]"
                                 " [--deflate on|off] [--tls-cert FILE --tls-key FILE]\n");
            return 2;
        }
    }

    if (tls_cert.empty() != tls_key.empty()) {
        std::fprintf(stderr, "ws_echo: --tls-cert and --tls-key go together\n");
        return 2;
    }
    std::shared_ptr<sluice::tls::context> tls;
    if (!tls_cert.empty()) {
#if defined(SLUICE_WITH_OPENSSL)
        auto ctx = sluice::tls::openssl::server_context::create();
        if (ctx->add_certificate_files(tls_cert, tls_key)) {
            std::fprintf(stderr, "ws_echo: %s\n", ctx->last_error().c_str());
            return 1;
        }
        ctx->set_alpn({"http/1.1"});
        tls = ctx;
#else
        std::fprintf(stderr, "ws_echo: built without TLS (configure with -DSLUICE_WITH_OPENSSL=ON)\n");
        return 2;
#endif
    }

    sluice::loop loop;
    http::server web(loop);
    sluice::tls_listener secure(loop); // wss://: handshaken streams, served by `web`
    ws::server echo(loop);
    echo.config().codec.max_message_size = max_message;
    if (deflate) {
#if defined(SLUICE_WITH_ZLIB)
        ws::deflate_settings d;
        d.no_context_takeover = false; // the client decides (server_no_context_takeover)
        d.peer_no_context_takeover = false;
        echo.config().extensions = std::make_shared<ws::permessage_deflate>(d);
#else
        std::fprintf(stderr, "ws_echo: built without zlib (SLUICE_WITH_ZLIB): no --deflate\n");
        return 2;
#endif
    }
    echo.on_message([](ws::connection& c, const ws::message& m) {
        if (std::error_code ec = c.send(m.op, m.data.data(), m.data.size())) {
            std::fprintf(stderr, "ws_echo: send: %s\n", ec.message().c_str());
            c.close(ws::close_code::internal_error);
            return;
        }
        if (c.write_queue_high()) { // the client reads slower than it sends
            c.pause();
            c.on_drain([c]() mutable { c.resume(); });
        }
    });
    web.on_request(
        [&](const http::request_view& req, http::response& res) { echo.upgrade(req, res); });

    std::error_code pec;
    sluice::endpoint ep = sluice::endpoint::parse(host, port, pec);
    if (pec) {
        std::fprintf(stderr, "ws_echo: bad address %s\n", host.c_str());
        return 2;
    }
    std::error_code lec;
    if (tls) {
        lec = secure.listen(ep, tls);
        secure.accept_each([&](std::error_code ec, sluice::tls_stream s) {
            if (!ec) web.serve(std::move(s));
        });
    } else {
        lec = web.listen(ep);
    }
    if (std::error_code ec = lec) {
        std::fprintf(stderr, "ws_echo: listen on %s:%u: %s\n", host.c_str(), port,
                     ec.message().c_str());
        return 1;
    }
    auto stop = [&](int) {
        web.close();
        secure.close();
        echo.close_all(ws::close_code::going_away, "server stopping");
        loop.stop();
    };
    loop.on_signal(SIGINT, stop);
    loop.on_signal(SIGTERM, stop);
    std::printf("ws_echo: listening on %s://%s:%u/%s\n", tls ? "wss" : "ws", host.c_str(), port,
                deflate ? " (permessage-deflate on)" : "");
    std::fflush(stdout);
    loop.run();
    loop.shutdown(std::chrono::seconds(1)); // lets the close frames go out
    return 0;
}
