// WebSocket echo server: accepts the upgrade on any path and sends every message back as
// it came (text as text, binary as binary), up to 16 MiB per message (larger ones close
// the connection with 1009). A client that stops reading pauses its own input: while the
// echo queue is above its high watermark the connection reads nothing more.
//
// --deflate on: permessage-deflate (RFC 7692) for clients that offer it, with context
// takeover unless the client asks for none; the build links zlib for it (SLUICE_WITH_ZLIB).
//
//   ws_echo [--port 9001] [--host 127.0.0.1] [--max-message BYTES] [--deflate on|off]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace http = sluice::http;
namespace ws = sluice::ws;

int main(int argc, char** argv) {
    std::uint16_t port = 9001;
    std::string host = "127.0.0.1";
    unsigned long long max_message = 16ull << 20;
    bool deflate = false;
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
        else {
            std::fprintf(stderr, "usage: ws_echo [--port P] [--host ADDR] [--max-message BYTES]"
                                 " [--deflate on|off]\n");
            return 2;
        }
    }

    sluice::loop loop;
    http::server web(loop);
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
    if (std::error_code ec = web.listen(ep)) {
        std::fprintf(stderr, "ws_echo: listen on %s:%u: %s\n", host.c_str(), port,
                     ec.message().c_str());
        return 1;
    }
    auto stop = [&](int) {
        web.close();
        echo.close_all(ws::close_code::going_away, "server stopping");
        loop.stop();
    };
    loop.on_signal(SIGINT, stop);
    loop.on_signal(SIGTERM, stop);
    std::printf("ws_echo: listening on ws://%s:%u/%s\n", host.c_str(), port,
                deflate ? " (permessage-deflate on)" : "");
    std::fflush(stdout);
    loop.run();
    loop.shutdown(std::chrono::seconds(1)); // lets the close frames go out
    return 0;
}
