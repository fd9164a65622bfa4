// ws::read from coroutines when what owns the connection goes away: a destroyed ws::server
// resumes a pending read with operation_aborted, from the loop; a connection whose loop is
// gone is refused at once (loop_gone) without suspending.
#include "../loop/common.hpp"

#include <sluice/http.hpp>
#include <sluice/ws.hpp>

#include <optional>
#include <vector>

using namespace std::chrono_literals;
namespace http = sluice::http;
namespace ws = sluice::ws;

TEST_CASE("ws coroutines: a read pending on a connection of a destroyed server ends with operation_aborted") {
    // Regression (issue #16, bug 10): ~server() left its connections running, so a read
    // pending on one waited for a peer that kept the connection open.
    test::bounded_loop loop;
    http::server web(loop);
    std::optional<ws::server> wss(std::in_place, loop); // no on_message: pulled
    int started = 0, resumed = 0;
    std::error_code got;
    auto session = [&](ws::connection c) -> sluice::task<void> {
        ++started;
        auto r = co_await ws::read(c);
        got = r.ec;
        ++resumed;
    };
    wss->on_open([&](ws::connection& c) { sluice::spawn(loop, session(c)); });
    web.on_request([&](const http::request_view& req, http::response& res) { wss->upgrade(req, res); });
    REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    const std::string url = "ws://127.0.0.1:" + std::to_string(web.local_endpoint(ec).port()) + "/";

    // A client that stays open and silent.
    ws::handlers h;
    bool opened = false, client_closed = false;
    h.on_open = [&](ws::connection&) { opened = true; };
    h.on_message = [](ws::connection&, const ws::message&) {};
    h.on_close = [&](ws::connection&, const ws::close_status&) { client_closed = true; };
    ws::connection client = ws::connect(loop, url, std::move(h));
    REQUIRE(loop.run_until([&] { return opened && started == 1; }));
    loop.run_for(10ms);
    CHECK(resumed == 0);

    wss.reset();
    CHECK(resumed == 0); // from the loop, never inside the destructor
    REQUIRE(loop.run_until([&] { return resumed == 1; }, 5s));
    CHECK(got == sluice::error::operation_aborted);
    REQUIRE(loop.run_until([&] { return client_closed; }));
    CHECK(resumed == 1);
}

TEST_CASE("ws coroutines: ws::read on a connection whose loop is gone returns loop_gone at once") {
    ws::connection kept;
    {
        test::bounded_loop loop;
        http::server web(loop);
        ws::server wss(loop);
        wss.on_message([](ws::connection&, const ws::message&) {});
        web.on_request([&](const http::request_view& req, http::response& res) { wss.upgrade(req, res); });
        REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        const std::string url = "ws://127.0.0.1:" + std::to_string(web.local_endpoint(ec).port()) + "/";
        ws::handlers h;
        bool opened = false;
        h.on_open = [&](ws::connection&) { opened = true; };
        kept = ws::connect(loop, url, std::move(h));
        REQUIRE(loop.run_until([&] { return opened; }));
    }
    // Another loop runs the coroutine; the connection's own loop is gone.
    test::bounded_loop other;
    std::error_code got;
    bool done = false;
    auto reader = [&]() -> sluice::task<void> {
        auto r = co_await ws::read(kept);
        got = r.ec;
        done = true;
    };
    sluice::spawn(other, reader());
    REQUIRE(other.run_until([&] { return done; }, 5s));
    CHECK(got == sluice::error::loop_gone);
}

namespace {
struct sets_on_destroy {
    bool* flag;
    ~sets_on_destroy() { *flag = true; }
};
} // namespace

TEST_CASE("ws coroutines: a loop destroyed without shutdown() destroys a chain waiting in ws::read") {
    // The read's completion can never run: like a dropped handler, it destroys the chain
    // (rule 4 of docs/guide/lifetimes.md) instead of leaking it. Both orders: the server
    // destroyed first (the completion is queued when the loop goes), and the server
    // outliving its loop (the loop lets its connections go).
    for (bool server_outlives_loop : {false, true}) {
        CAPTURE(server_outlives_loop);
        bool frame_destroyed = false, resumed = false;
        std::optional<ws::server> outliving;
        {
            test::bounded_loop loop;
            http::server web(loop);
            std::optional<ws::server> inner;
            std::optional<ws::server>& wss = server_outlives_loop ? outliving : inner;
            wss.emplace(loop); // pulled
            auto session = [&](ws::connection c) -> sluice::task<void> {
                sets_on_destroy g{&frame_destroyed};
                (void)co_await ws::read(c);
                resumed = true;
            };
            bool started = false;
            wss->on_open([&](ws::connection& c) {
                started = true;
                sluice::spawn(loop, session(c));
            });
            web.on_request([&](const http::request_view& req, http::response& res) { wss->upgrade(req, res); });
            REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
            std::error_code ec;
            const std::string url = "ws://127.0.0.1:" + std::to_string(web.local_endpoint(ec).port()) + "/";
            ws::handlers h;
            h.on_message = [](ws::connection&, const ws::message&) {};
            ws::connection client = ws::connect(loop, url, std::move(h));
            REQUIRE(loop.run_until([&] { return started; }));
            loop.run_for(20ms);
            CHECK_FALSE(frame_destroyed);
            if (!server_outlives_loop) inner.reset();
        }
        CHECK(frame_destroyed);
        CHECK_FALSE(resumed);
        outliving.reset();
    }
}

TEST_CASE("ws coroutines: a loop destroyed while ws::async_connect dials destroys the chain") {
    // The dial's handlers are dropped with the loop, uncalled: before, nothing owned the
    // awaiting chain, which then leaked (LeakSanitizer) instead of being destroyed.
    bool frame_destroyed = false, resumed = false;
    {
        test::bounded_loop loop;
        // A listener that accepts and never answers: the dial waits for its 101.
        sluice::tcp_listener silent(loop);
        const std::uint16_t port = test::listen_loopback(silent);
        std::vector<sluice::tcp_stream> held;
        silent.accept_each([&](std::error_code e, sluice::tcp_stream s) {
            if (!e) held.push_back(std::move(s));
        });
        auto dial = [&]() -> sluice::task<void> {
            sets_on_destroy g{&frame_destroyed};
            auto r = co_await ws::async_connect(loop, "ws://127.0.0.1:" + std::to_string(port) + "/");
            (void)r;
            resumed = true;
        };
        sluice::spawn(loop, dial());
        REQUIRE(loop.run_until([&] { return !held.empty(); }));
        loop.run_for(20ms);
        CHECK_FALSE(frame_destroyed);
    }
    CHECK(frame_destroyed);
    CHECK_FALSE(resumed);
}
