// Helpers for the WebSocket-on-the-loop tests: a ws::server behind an http::server on
// loopback, and a raw client that speaks frames byte by byte (to send what a correct client
// never would, and to see exactly what the server put on the wire).
#pragma once

#include "../http_server/common.hpp"

#include <sluice/ws.hpp>

#include <string>
#include <vector>

namespace test {

namespace ws = sluice::ws;

struct ws_fixture {
    bounded_loop loop;
    http::server web;
    ws::server wss;
    std::uint16_t port = 0;

    explicit ws_fixture(ws::settings s = {}) : web(loop), wss(loop, std::move(s)) {
        // Push mode unless a test clears it: without on_message a server is read by
        // pulling (ws::read), and nothing would read these connections.
        wss.on_message([](ws::connection&, const ws::message&) {});
        web.on_request(
            [this](const http::request_view& req, http::response& res) { wss.upgrade(req, res); });
        REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        port = web.local_endpoint(ec).port();
        REQUIRE_FALSE(ec);
    }
    std::string url(std::string_view path = "/") const {
        return "ws://127.0.0.1:" + std::to_string(port) + std::string(path);
    }
};

inline constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";

inline std::string upgrade_request(std::string_view extra = {}) {
    return "GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " +
           std::string(sample_key) + "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) +
           "\r\n";
}

// A client frame as a browser would send it (masked), or unmasked to break the rules.
inline std::string frame(ws::opcode op, std::string_view payload, bool fin = true,
                         bool masked = true, std::uint8_t rsv = 0) {
    ws::frame_header h;
    h.fin = fin;
    h.op = op;
    h.rsv = rsv;
    h.length = payload.size();
    h.masked = masked;
    const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    std::memcpy(h.mask, key, 4);
    std::string out(ws::header_size(payload.size(), masked) + payload.size(), '\0');
    ws::write_frame(reinterpret_cast<std::uint8_t*>(&out[0]), h, payload.data(), payload.size());
    return out;
}

inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xFF);
    p += reason;
    return p;
}

struct wire_frame {
    ws::opcode op;
    bool fin;
    bool masked;
    std::string payload;
    std::uint16_t close_code() const {
        return payload.size() >= 2
                   ? static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                static_cast<unsigned char>(payload[1]))
                   : 0;
    }
};

// The frames in `in` after the HTTP response head (complete ones only), unmasked.
inline std::vector<wire_frame> frames_after_head(std::string_view in, bool* head_seen = nullptr) {
    std::vector<wire_frame> out;
    std::size_t at = in.find("\r\n\r\n");
    if (head_seen) *head_seen = at != std::string_view::npos;
    if (at == std::string_view::npos) return out;
    at += 4;
    for (;;) {
        ws::frame_header h;
        std::size_t hl = 0;
        ws::error e{};
        const auto* p = reinterpret_cast<const std::uint8_t*>(in.data() + at);
        if (ws::parse_header(p, in.size() - at, h, hl, e) != ws::parse_status::complete) break;
        if (in.size() - at - hl < h.length) break;
        wire_frame f{h.op, h.fin, h.masked, std::string(in.substr(at + hl, h.length))};
        if (h.masked)
            ws::mask_inplace(reinterpret_cast<std::uint8_t*>(&f.payload[0]), f.payload.size(),
                             h.mask, 0);
        out.push_back(std::move(f));
        at += hl + h.length;
    }
    return out;
}

inline constexpr std::string_view good_101 =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n";

// A raw server for one client: once the request head is in, it writes `answer` with
// {ACCEPT} replaced by the accept value of the request's key (an empty answer: never
// answers), then keeps recording what the client sends, or stops reading.
struct raw_ws_server {
    sluice::tcp_listener lst;
    sluice::tcp_stream peer;
    std::string in;
    std::uint16_t port = 0;
    bool answered = false;

    explicit raw_ws_server(sluice::loop& l, std::string answer = std::string(good_101),
                           bool read_after_answer = true)
        : lst(l) {
        port = listen_loopback(lst);
        lst.accept([this, answer = std::move(answer), read_after_answer](std::error_code ec,
                                                                         sluice::tcp_stream s) {
            REQUIRE_FALSE(ec);
            peer = std::move(s);
            peer.read_start(
                [this, answer, read_after_answer](std::error_code e, std::string_view d) {
                    if (e) return;
                    in.append(d.data(), d.size());
                    if (answered || answer.empty() || in.find("\r\n\r\n") == std::string::npos)
                        return;
                    answered = true;
                    std::size_t k = in.find("Sec-WebSocket-Key: ");
                    REQUIRE(k != std::string::npos);
                    std::string a = answer;
                    std::size_t p = a.find("{ACCEPT}");
                    if (p != std::string::npos)
                        a.replace(p, 8, ws::compute_accept(in.substr(k + 19, 24)));
                    peer.write(a);
                    if (!read_after_answer) peer.read_stop();
                });
        });
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
};

// A sluice client that records what happens to it.
struct recording_client {
    ws::connection c;
    bool opened = false;
    bool closed = false;
    ws::close_status st;
    std::string reason;
    std::vector<std::pair<ws::opcode, std::string>> got;
    std::vector<std::string> pongs;

    recording_client(sluice::loop& l, const std::string& url, ws::client_options o = {}) {
        ws::handlers h;
        h.on_open = [this](ws::connection&) { opened = true; };
        h.on_message = [this](ws::connection&, const ws::message& m) {
            got.emplace_back(m.op, std::string(m.data));
        };
        h.on_pong = [this](ws::connection&, std::string_view p) { pongs.emplace_back(p); };
        h.on_close = [this](ws::connection&, const ws::close_status& s) {
            closed = true;
            st = s;
            reason = std::string(s.reason);
            st.reason = {};
        };
        c = ws::connect(l, url, std::move(h), std::move(o));
    }
};

} // namespace test
