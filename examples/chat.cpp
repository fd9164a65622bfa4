// The main demo: chat rooms. GET / serves the page; the page joins the room named in its
// address (http://127.0.0.1:8080/#kitchen joins "kitchen"; no name: "lobby") through the
// WebSocket /ws/ROOM. Each room is a topic: a text message is published to everyone in its
// room (the sender included), encoded once and shared by all of them. Open
// http://127.0.0.1:8080/ in two tabs.
//
// Messages are compressed (permessage-deflate) for browsers that offer it, which they all
// do, when the build has zlib (SLUICE_WITH_ZLIB); without context takeover, so an idle
// member holds no compression state.
//
// A reader that cannot keep up is closed with 1008 once 1 MiB is queued for it (the
// WebSocket server's default send limit), so one stalled client never makes the server
// buffer a flood for it; the others get every message, in order.
//
// --tls-cert FILE --tls-key FILE (PEM): the page over https:// and the rooms over wss://
// (the page's socket follows its own scheme); needs a build with SLUICE_WITH_OPENSSL (CMake
// -DSLUICE_WITH_OPENSSL=ON), without which it refuses to start.
//
//   chat [--port 8080] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]
#include <sluice.hpp>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace http = sluice::http;
namespace ws = sluice::ws;

// The page keeps a stable DOM contract that the browser test relies on: #status says
// "connected" once the socket is open, #text + #send (or Enter) send, #log gets one <li>
// per message received.
static constexpr std::string_view page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sluice chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { list-style: none; padding: 0; border: 1px solid #ccc; height: 20em; overflow-y: auto; }
  #log li { padding: .2em .5em; border-bottom: 1px solid #eee; }
  form { display: flex; gap: .5em; margin-top: .5em; }
  #text { flex: 1; }
</style>
</head>
<body>
<h1>sluice chat</h1>
<p>Status: <span id="status">connecting</span></p>
<ul id="log"></ul>
<form id="form">
  <input id="text" autocomplete="off" placeholder="Say something" autofocus>
  <button id="send" type="submit">Send</button>
</form>
<script>
  const status = document.getElementById('status');
  const log = document.getElementById('log');
  const text = document.getElementById('text');
  const room = decodeURIComponent(location.hash.slice(1)) || 'lobby';
  const sock = new WebSocket(new URL('/ws/' + encodeURIComponent(room), location.href).href.replace(/^http/, 'ws'));
  sock.onopen = () => { status.textContent = 'connected'; };
  sock.onclose = (e) => { status.textContent = 'closed (' + e.code + ')'; };
  sock.onmessage = (e) => {
    const li = document.createElement('li');
    li.textContent = e.data;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  };
  document.getElementById('form').onsubmit = (e) => {
    e.preventDefault();
    if (text.value !== '' && sock.readyState === WebSocket.OPEN) sock.send(text.value);
    text.value = '';
  };
</script>
</body>
</html>
)html";

// What each connection carries: its room, made from the request at upgrade.
struct member {
    std::string room;
};

// Room names as they appear in the path (percent-encoded names are not decoded here):
// 1 to 64 letters, digits, '-' and '_'.
static bool valid_room(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') return false;
    return true;
}

int main(int argc, char** argv) {
    std::uint16_t port = 8080;
    std::string host = "127.0.0.1";
    std::string tls_cert, tls_key;
    for (int i = 1; i < argc; i += 2) {
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (v && !std::strcmp(argv[i], "--port"))
            port = static_cast<std::uint16_t>(std::atoi(v));
        else if (v && !std::strcmp(argv[i], "--host"))
            host = v;
        else if (v && !std::strcmp(argv[i], "--tls-cert"))
            tls_cert = v;
        else if (v && !std::strcmp(argv[i], "--tls-key"))
            tls_key = v;
        else {
            std::fprintf(stderr, "usage: chat [--port P] [--host ADDR] [--tls-cert FILE --tls-key FILE]\n");
            return 2;
        }
    }
    if (tls_cert.empty() != tls_key.empty()) {
        std::fprintf(stderr, "chat: --tls-cert and --tls-key go together\n");
        return 2;
    }
    std::shared_ptr<sluice::tls::context> tls;
    if (!tls_cert.empty()) {
#if defined(SLUICE_WITH_OPENSSL)
        auto ctx = sluice::tls::openssl::server_context::create();
        if (ctx->add_certificate_files(tls_cert, tls_key)) {
            std::fprintf(stderr, "chat: %s\n", ctx->last_error().c_str());
            return 1;
        }
        ctx->set_alpn({"http/1.1"});
        tls = ctx;
#else
        std::fprintf(stderr, "chat: built without TLS (configure with -DSLUICE_WITH_OPENSSL=ON)\n");
        return 2;
#endif
    }

    sluice::loop loop;
    http::server web(loop);
    sluice::tls_listener secure(loop); // https:// and wss://: handshaken streams, served by `web`
    ws::server rooms(loop);
    rooms.config().codec.max_message_size = 64 * 1024; // chat lines, not files
#if defined(SLUICE_WITH_ZLIB)
    rooms.config().extensions = std::make_shared<ws::permessage_deflate>();
    const char* compression = ", messages compressed (permessage-deflate)";
#else
    const char* compression = "";
#endif
    rooms.on_open([](ws::connection& c) {
        if (c.subscribe(c.data<member>()->room)) c.close(ws::close_code::policy_violation);
    });
    rooms.on_message([&](ws::connection& c, const ws::message& m) {
        if (!m.is_text()) {
            c.close(ws::close_code::unsupported_data, "text only");
            return;
        }
        rooms.publish(c.data<member>()->room, m.data);
    });
    web.on_request([&](const http::request_view& req, http::response& res) {
        std::string_view path = req.path();
        if (path == "/ws" || path.rfind("/ws/", 0) == 0) {
            std::string_view name = path.size() > 4 ? path.substr(4) : "lobby";
            if (!valid_room(name)) {
                res.status(404).header("Content-Type", "text/plain").end("No such room\n");
                return;
            }
            rooms.upgrade(req, res, member{std::string(name)});
        } else if (path == "/") {
            res.header("Content-Type", "text/html; charset=utf-8").end(page);
        } else {
            res.status(404).header("Content-Type", "text/plain").end("Not Found\n");
        }
    });

    std::error_code ec;
    sluice::endpoint ep = sluice::endpoint::parse(host, port, ec);
    if (ec) {
        std::fprintf(stderr, "chat: bad address %s\n", host.c_str());
        return 2;
    }
    if (tls) {
        ec = secure.listen(ep, tls);
        secure.accept_each([&](std::error_code aec, sluice::tls_stream s) {
            if (!aec) web.serve(std::move(s));
        });
    } else {
        ec = web.listen(ep);
    }
    if (ec) {
        std::fprintf(stderr, "chat: listen on %s:%u: %s\n", host.c_str(), port,
                     ec.message().c_str());
        return 1;
    }
    auto stop = [&](int) {
        web.close();
        secure.close();
        rooms.close_all(ws::close_code::going_away, "server stopping");
        loop.stop();
    };
    loop.on_signal(SIGINT, stop);
    loop.on_signal(SIGTERM, stop);
    std::printf("chat: open %s://%s:%u/ in two browser tabs (Ctrl-C stops)%s\n",
                tls ? "https" : "http", host.c_str(), port, compression);
    std::fflush(stdout);
    loop.run();
    loop.shutdown(std::chrono::seconds(1)); // lets the close frames go out
    return 0;
}
