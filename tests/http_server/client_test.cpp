// The minimal client helper (http::fetch) against the sluice server on loopback.
#include "common.hpp"

#include <atomic>
#include <memory>
#include <thread>

using namespace std::chrono_literals;
namespace http = sluice::http;

namespace {
struct fetched {
    bool done = false;
    std::error_code ec;
    http::client_response res;
};
http::fetch_handler into(fetched& f) {
    return [&f](std::error_code ec, http::client_response r) {
        f.done = true;
        f.ec = ec;
        f.res = std::move(r);
    };
}
} // namespace

TEST_CASE("fetch: GET and POST against the server, headers and body collected") {
    test::http_fixture f;
    f.server.on_request([](const http::request_view& req, http::response& res) {
        res.status(req.path() == "/missing" ? 404 : 200);
        res.header("X-Method", req.method());
        res.end(req.method() == "POST" ? "got " + std::string(req.body()) : std::string("hello"));
    });
    f.listen();
    std::string base = "http://127.0.0.1:" + std::to_string(f.port);

    fetched get;
    http::fetch(f.loop, base + "/", into(get));
    REQUIRE(f.loop.run_until([&] { return get.done; }));
    CHECK_FALSE(get.ec);
    CHECK(get.res.status == 200);
    CHECK(get.res.body == "hello");
    CHECK(get.res.get("x-method") == "GET");
    CHECK(get.res.get("Server") == "sluice");

    fetched post;
    http::request_options opt;
    opt.method = "POST";
    opt.body = std::string(100000, 'p');
    opt.headers.emplace_back("Content-Type", "text/plain");
    http::fetch(f.loop, base + "/echo?x=1", opt, into(post));
    REQUIRE(f.loop.run_until([&] { return post.done; }));
    CHECK_FALSE(post.ec);
    CHECK(post.res.body == "got " + opt.body);

    fetched missing;
    http::fetch(f.loop, "http://localhost:" + std::to_string(f.port) + "/missing", into(missing));
    REQUIRE(f.loop.run_until([&] { return missing.done; }));
    CHECK_FALSE(missing.ec);
    CHECK(missing.res.status == 404);
}

TEST_CASE("fetch: errors — bad URL, refused, timeout, response too large") {
    test::bounded_loop loop;
    fetched bad, no_tls;
    http::fetch(loop, "ftp://127.0.0.1/", into(bad));
    // https:// is a URL, but without request_options::tls there is no way to speak it.
    http::fetch(loop, "https://127.0.0.1/", into(no_tls));
    CHECK_FALSE(bad.done); // never inline
    CHECK_FALSE(no_tls.done);
    REQUIRE(loop.run_until([&] { return bad.done && no_tls.done; }));
    CHECK(bad.ec == std::errc::invalid_argument);
    CHECK(no_tls.ec == std::errc::protocol_not_supported);

    std::uint16_t dead_port;
    {
        sluice::tcp_listener tmp(loop);
        dead_port = test::listen_loopback(tmp);
    }
    fetched refused;
    http::fetch(loop, "http://127.0.0.1:" + std::to_string(dead_port) + "/", into(refused));
    REQUIRE(loop.run_until([&] { return refused.done; }));
    CHECK(refused.ec == std::errc::connection_refused);

    sluice::tcp_listener silent(loop); // accepts, never answers
    auto silent_port = test::listen_loopback(silent);
    std::vector<sluice::tcp_stream> held;
    silent.accept_each([&](std::error_code ec, sluice::tcp_stream s) {
        if (!ec) held.push_back(std::move(s));
    });
    fetched slow;
    http::request_options quick;
    quick.timeout = 100ms;
    http::fetch(loop, "http://127.0.0.1:" + std::to_string(silent_port) + "/", quick, into(slow));
    REQUIRE(loop.run_until([&] { return slow.done; }));
    CHECK(slow.ec == sluice::error::timed_out);

    test::http_fixture f;
    f.server.on_request([](const http::request_view&, http::response& res) {
        res.end(std::string(64 * 1024, 'b'));
    });
    f.listen();
    fetched big;
    http::request_options capped;
    capped.max_response = 1024;
    http::fetch(f.loop, "http://127.0.0.1:" + std::to_string(f.port) + "/", capped, into(big));
    REQUIRE(f.loop.run_until([&] { return big.done; }));
    CHECK(big.ec == http::error::body_too_large);
}

TEST_CASE("fetch: a timeout that expires while name resolution is still queued") {
    // Regression (issue #16, bug 3): the timeout freed the operation, and the resolve
    // completion, arriving later, called into it. Resolution is made slow deterministically:
    // every thread of the process pool is busy with a blocking job queued before it.
    test::bounded_loop loop;
    sluice::detail::thread_pool& pool = sluice::detail::thread_pool::instance();
    pool.submit([] {}); // starts the pool if no test did (SLUICE_THREADPOOL_SIZE sets its size)
    const std::size_t threads = pool.size();
    REQUIRE(threads >= 1);
    auto release = std::make_shared<std::atomic<bool>>(false);
    std::size_t blockers_done = 0;
    for (std::size_t i = 0; i < threads; ++i)
        loop.offload(
            [release] {
                // Bounded: gives up after 10 s if the test failed to release it.
                for (int n = 0; n < 10000 && !release->load(); ++n)
                    std::this_thread::sleep_for(1ms);
            },
            [&] { ++blockers_done; });

    std::uint16_t dead_port;
    {
        sluice::tcp_listener tmp(loop);
        dead_port = test::listen_loopback(tmp);
    }
    fetched f;
    int calls = 0;
    http::request_options quick;
    quick.timeout = 1ms;
    http::fetch(loop, "http://127.0.0.1:" + std::to_string(dead_port) + "/", quick,
                [&](std::error_code ec, http::client_response) {
                    ++calls;
                    f.done = true;
                    f.ec = ec;
                    release->store(true); // now let the blockers, then the resolution, run
                });
    loop.run(); // until the blockers, the resolution and its completion are all done
    release->store(true);
    CHECK(calls == 1);
    CHECK(f.ec == sluice::error::timed_out);
    CHECK(blockers_done == threads);
}

TEST_CASE("fetch: max_response bounds the whole response, body included") {
    // Regression (issue #16, bug 9): max_response limited only the bytes not yet parsed, so a
    // 10 MB body was collected whole under a 1 MB limit.
    test::http_fixture f;
    const std::string big(10 * 1000 * 1000, 'b');
    f.server.on_request([&](const http::request_view&, http::response& res) { res.end(big); });
    f.listen();
    const std::string url = "http://127.0.0.1:" + std::to_string(f.port) + "/";

    fetched capped;
    http::request_options opt;
    opt.max_response = 1000 * 1000;
    http::fetch(f.loop, url, opt, into(capped));
    REQUIRE(f.loop.run_until([&] { return capped.done; }));
    CHECK(capped.ec == http::error::body_too_large);
    CHECK(capped.res.body.size() <= opt.max_response);

    fetched roomy; // the same response fits a larger limit
    opt.max_response = 11 * 1000 * 1000;
    http::fetch(f.loop, url, opt, into(roomy));
    REQUIRE(f.loop.run_until([&] { return roomy.done; }));
    CHECK_FALSE(roomy.ec);
    CHECK(roomy.res.body.size() == big.size());
}
