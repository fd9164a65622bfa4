// Helpers for the HTTP server tests: a server on loopback and raw sluice TCP clients.
#pragma once

#include "../loop/common.hpp"

#include <sluice/http.hpp>

#include <memory>
#include <string>
#include <vector>

namespace test {

namespace http = sluice::http;

struct http_fixture {
    bounded_loop loop;
    http::server server;
    std::uint16_t port = 0;

    explicit http_fixture(http::server_settings s = {}) : server(loop, std::move(s)) {}
    void listen() {
        REQUIRE_FALSE(server.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        port = server.local_endpoint(ec).port();
        REQUIRE_FALSE(ec);
    }
};

// A raw client: connects, sends bytes, collects everything it receives. It may be
// destroyed with a read pending: the aborted completion that follows finds it gone.
struct raw_client {
    sluice::tcp_stream s;
    std::string in;
    bool connected = false;
    bool closed = false; // EOF or error seen
    std::error_code close_reason;
    std::shared_ptr<raw_client*> self = std::make_shared<raw_client*>(this);

    raw_client(sluice::loop& l, std::uint16_t port, bool read = true) : s(l) {
        s.connect(sluice::endpoint::loopback_v4(port), [me = self, read](std::error_code ec) {
            if (!*me) return;
            REQUIRE_FALSE(ec);
            (*me)->connected = true;
            if (read) (*me)->start_reading();
        });
    }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;
    ~raw_client() { *self = nullptr; }
    void start_reading() {
        s.read_start([me = self](std::error_code ec, std::string_view d) {
            raw_client* c = *me;
            if (!c) return;
            if (ec) {
                c->closed = true;
                c->close_reason = ec;
                return;
            }
            c->in.append(d.data(), d.size());
        });
    }
    void send(std::string_view d) { s.write(std::string(d)); }
};

struct parsed_response {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool chunked = false;
    std::string get(std::string_view name) const {
        for (auto& h : headers)
            if (http::detail::iequals(h.first, name)) return h.second;
        return {};
    }
};

// Parses the complete responses in `in`; `verbs` gives the request of each (HEAD
// responses have no body). Stops at the first incomplete one.
inline std::vector<parsed_response> parse_responses(std::string_view in,
                                                    std::vector<http::verb> verbs = {}) {
    std::vector<parsed_response> out;
    http::message_storage<64> msg;
    http::parser p(http::parser::response, msg);
    std::size_t off = 0;
    parsed_response cur;
    for (;;) {
        p.response_to(out.size() < verbs.size() ? verbs[out.size()] : http::verb::get);
        http::result r = p.feed(in.data() + off, in.size() - off);
        off += r.consumed;
        if (r.ev == http::event::need_more || r.ev == http::event::error ||
            r.ev == http::event::upgrade)
            break;
        if (r.ev == http::event::head) {
            cur = parsed_response();
            cur.status = msg.status;
            cur.chunked = msg.chunked();
            for (auto& h : msg) cur.headers.emplace_back(std::string(h.name), std::string(h.value));
        } else if (r.ev == http::event::body) {
            cur.body.append(r.data.data(), r.data.size());
        } else if (r.ev == http::event::done) {
            if (cur.status >= 200) out.push_back(cur);
        }
    }
    return out;
}

// A request to switch to a made-up protocol, and the answer that hands the connection over
// (response::take_over).
inline constexpr const char* other_protocol_request =
    "GET /up HTTP/1.1\r\nHost: t\r\nUpgrade: test\r\nConnection: upgrade\r\n\r\n";
inline constexpr const char* other_protocol_switch =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n";

inline std::string get_request(std::string_view target, std::string_view extra = {}) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

} // namespace test
