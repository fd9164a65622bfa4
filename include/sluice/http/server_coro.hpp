// sluice — the coroutine form of the HTTP server's handler (C++20 builds only).
//
//     http::on_request_coro(srv, loop, [](http::request req, http::response res) -> task<void> {
//         co_await sleep_for(std::chrono::milliseconds(10));
//         res.end("hello " + std::string(req.path()));
//     });
//
// The callback form hands out views valid only during the call; a coroutine outlives
// that call, so it receives an owned copy of the request, and the response handle
// moves into its frame. Answers still go out in request order (the server holds a
// later response until earlier ones end), so a slow coroutine cannot reorder a
// pipeline.
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/server.hpp>

#if SLUICE_HAS_COROUTINES
#include <sluice/coro/spawn.hpp>
#include <sluice/coro/task.hpp>

#include <string>
#include <utility>
#include <vector>

namespace sluice::http {

// A request the handler owns: safe to use across co_await.
struct request {
    std::string method;
    std::string target;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    unsigned version_minor = 1;
    bool keep_alive = true;

    static request copy_of(const request_view& v) {
        request r;
        r.method = std::string(v.method());
        r.target = std::string(v.target());
        r.body = std::string(v.body());
        for (const header& h : v) r.headers.emplace_back(std::string(h.name), std::string(h.value));
        r.version_minor = v.version_minor();
        r.keep_alive = v.keep_alive();
        return r;
    }
    std::string_view path() const noexcept {
        return std::string_view(target).substr(0, target.find('?'));
    }
    std::string_view query() const noexcept {
        std::size_t q = target.find('?');
        return q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
    }
    std::string_view get(std::string_view name) const noexcept {
        for (auto& h : headers)
            if (detail::iequals(h.first, name)) return h.second;
        return {};
    }
};

// Installs `handler(request, response) -> task<void>` as the server's handler; each
// request runs as a task spawned on `l` (the server's loop).
template <class F>
void on_request_coro(server& srv, loop& l, F handler) {
    srv.on_request([&l, h = std::move(handler)](const request_view& v, response& res) mutable {
        spawn(l, h(request::copy_of(v), std::move(res)));
    });
}

} // namespace sluice::http
#endif
