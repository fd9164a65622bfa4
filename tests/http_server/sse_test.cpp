// A streamed response never has a hole (docs/guide/lifetimes.md rule 5): a Server-Sent
// Events client that stops reading makes the server refuse output past its write cap, and
// the connection then ends. Before, the refused chunk was simply missing and later events
// went out after it, inside valid chunked framing.
#include "common.hpp"

#include <string>
#include <vector>

using namespace std::chrono_literals;
using test::raw_client;
namespace http = sluice::http;

namespace {

// The event numbers found in the raw bytes received ("data: N ..." lines), in order. A
// line cut by the end of the stream is left out.
std::vector<long> event_numbers(const std::string& in) {
    std::vector<long> out;
    for (std::size_t at = in.find("data: "); at != std::string::npos;
         at = in.find("data: ", at + 1)) {
        std::size_t end = in.find('\n', at);
        if (end == std::string::npos) break;
        out.push_back(std::stol(in.substr(at + 6, in.find(' ', at + 6) - (at + 6))));
    }
    return out;
}

} // namespace

TEST_CASE("http server: an SSE client past the write cap is dropped, never sent a gap") {
    http::server_settings s;
    s.write.low_watermark = 16 * 1024;
    s.write.high_watermark = 64 * 1024;
    s.write.hard_cap = 256 * 1024;
    test::http_fixture f(s);
    http::response sub;
    f.server.on_request([&](const http::request_view&, http::response& res) { sub = std::move(res); });
    f.listen();
    raw_client c(f.loop, f.port, false); // reads nothing until told to
    REQUIRE(f.loop.run_until([&] { return c.connected; }));
    sluice::platform::set_option(c.s.native_handle(), SOL_SOCKET, SO_RCVBUF, 32 * 1024);
    c.send(test::get_request("/events"));
    REQUIRE(f.loop.run_until([&] { return static_cast<bool>(sub); }));

    // A producer that ignores backpressure: events until the response refuses one.
    const std::string pad(1000, 'p');
    long next = 0;
    while (next < 20000 && sub.send_event(std::to_string(next) + " " + pad)) ++next;
    CHECK(next < 20000); // refused once the cap was reached

    // The client catches up; the producer goes on now and then.
    c.start_reading();
    sluice::timer more(f.loop);
    int rounds = 0;
    more.start(5ms, 5ms, [&](std::error_code) {
        if (++rounds > 40) {
            more.cancel();
            return;
        }
        if (sub.send_event(std::to_string(next) + " " + pad)) ++next;
    });
    REQUIRE(f.loop.run_until([&] { return rounds > 40 || c.closed; }));
    f.loop.run_for(50ms);

    CHECK(c.closed); // the connection ended: it could not go on without a hole
    CHECK_FALSE(sub.is_open());
    const std::vector<long> got = event_numbers(c.in);
    REQUIRE_FALSE(got.empty());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("event " << i);
        REQUIRE(got[i] == static_cast<long>(i)); // contiguous from 0: no event missing
    }
}
