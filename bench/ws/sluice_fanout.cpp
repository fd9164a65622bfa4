// WebSocket fan-out server on sluice's topics, for bench/ws/run.sh ("Publish to N
// subscribers"); bench/ws/beast_fanout.cpp is the same protocol on Boost.Beast:
//   GET /sub  upgrade, subscribe to the one topic, then a text message "subscribed" (sent
//             after subscribing, so it precedes every published message on that connection)
//   GET /pub  upgrade; every message received is published to the topic with its own
//             opcode: server.publish(topic, opcode, data, n), one encoding shared by every
//             subscriber. Messages from subscribers are ignored.
// One thread, 127.0.0.1 only. The send limit stays at its default (1 MiB per connection,
// close on overflow): the load generator keeps at most a few messages in flight, so no
// queue comes near it, and a subscriber that were cut (1008) fails the run. A publish that
// reaches fewer connections than the topic has is reported on stderr as well.
//
//   sluice_fanout --port P
#include <sluice.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace http = sluice::http;
namespace ws = sluice::ws;

namespace {
struct publisher {}; // the per-connection data of /pub connections
constexpr std::string_view topic = "bench";
} // namespace

int main(int argc, char** argv) {
    std::uint16_t port = 9002;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!std::strcmp(argv[i], "--port")) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    // 10,000 subscribers need more descriptors than the usual soft limit of 1,024.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    sluice::loop loop;
    http::server_settings hs;
    hs.max_connections = 1000000; // the descriptor limit is the real bound here
    http::server web(loop, hs);
    ws::server fan(loop);
    unsigned long long short_publishes = 0;
    fan.on_message([&](ws::connection& c, const ws::message& m) {
        if (!c.data<publisher>()) return;
        const std::size_t want = fan.subscribers(topic);
        const std::size_t got = fan.publish(topic, m.op, m.data.data(), m.data.size());
        if (got != want && short_publishes++ == 0)
            std::fprintf(stderr, "sluice_fanout: a publish reached %zu of %zu subscribers\n", got,
                         want);
    });
    web.on_request([&](const http::request_view& req, http::response& res) {
        if (req.path() == "/pub") {
            fan.upgrade(req, res, publisher{});
        } else if (req.path() == "/sub") {
            ws::connection c = fan.upgrade(req, res);
            if (!c) return;
            if (std::error_code ec = c.subscribe(topic)) {
                std::fprintf(stderr, "sluice_fanout: subscribe: %s\n", ec.message().c_str());
                c.close(ws::close_code::internal_error);
                return;
            }
            c.send_text("subscribed");
        } else {
            res.status(404).end();
        }
    });
    if (std::error_code ec = web.listen(sluice::endpoint::loopback_v4(port))) {
        std::fprintf(stderr, "sluice_fanout: listen on 127.0.0.1:%u: %s\n", port, ec.message().c_str());
        return 1;
    }
    auto stop = [&](int) {
        web.close();
        fan.close_all(ws::close_code::going_away);
        loop.stop();
    };
    loop.on_signal(SIGINT, stop);
    loop.on_signal(SIGTERM, stop);
    loop.run();
    if (short_publishes != 0)
        std::fprintf(stderr, "sluice_fanout: %llu publishes missed subscribers\n", short_publishes);
    return short_publishes != 0;
}
