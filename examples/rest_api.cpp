// An in-memory JSON items API on http::router, plus streamed blobs in both directions.
//
//   GET    /items          every item, a JSON array
//   POST   /items          a JSON object: stored with a new "id"; 201 + Location
//   GET    /items/{id}     one item (404 if there is none)
//   DELETE /items/{id}     204 (404 if there is none)
//   POST   /blobs          counts the body as it arrives (never buffered): {"bytes": N}
//   GET    /blobs/{n}      n bytes with Content-Length, byte i being i % 251, produced as
//                          the client drains them (never n bytes in memory)
// Errors are JSON: {"error": "...", "status": 404}, 405 with Allow, 413 past 1 MiB of
// item JSON, 400 for malformed JSON or paths. Every request is logged to stdout.
//
// JSON comes from Debian's nlohmann-json3-dev: this example's dependency only; the library
// has none.
//
//   rest_api [--port 8080]        (--port 0: a free port, printed)
#include <sluice.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

namespace http = sluice::http;
using json = nlohmann::json;

namespace {

void send_json(http::response& res, unsigned status, const json& body) {
    res.status(status).header("Content-Type", "application/json").end(body.dump());
}

void send_error(http::response& res, unsigned status, std::string_view why = {}) {
    json body = {{"status", status},
                 {"error", why.empty() ? std::string(http::reason_phrase(status)) : std::string(why)}};
    send_json(res, status, body);
}

// "42" -> 42; anything else (empty, signs, overflow) is not an id.
bool parse_number(std::string_view s, std::uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
}

// The bytes of every blob: byte i is i % 251. A window of the table starting at i % 251
// is the blob from offset i on, so any piece is a view, never a copy.
constexpr std::size_t blob_piece = 64 * 1024;
const std::string& blob_pattern() {
    static const std::string table = [] {
        std::string t(blob_piece + 251, '\0');
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<char>(i % 251);
        return t;
    }();
    return table;
}

// GET /blobs/{n}: writes while the connection's queue is below its high watermark, then
// waits for it to drain. Owned by the drain callback it arms: gone with the connection.
struct blob_sender : std::enable_shared_from_this<blob_sender> {
    http::response res;
    std::uint64_t size = 0, sent = 0;

    void pump() {
        while (sent < size && !res.write_queue_high()) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(blob_piece, size - sent));
            if (!res.write(std::string_view(blob_pattern()).substr(sent % 251, n))) return; // client gone
            sent += n;
        }
        if (sent == size) return res.end();
        res.on_drain([self = shared_from_this()] { self->pump(); });
    }
};

// POST /blobs: one piece at a time; the next is asked for only after this one is counted.
struct blob_counter : std::enable_shared_from_this<blob_counter> {
    http::body_reader body;
    http::response res;
    std::uint64_t bytes = 0;

    void next() {
        body.read([self = shared_from_this()](std::error_code ec, std::string_view piece) {
            if (ec == sluice::error::eof) return send_json(self->res, 200, {{"bytes", self->bytes}});
            if (ec) return send_error(self->res, static_cast<unsigned>(http::suggested_status(ec)));
            self->bytes += piece.size();
            self->next();
        });
    }
};

struct items_api {
    std::map<std::uint64_t, json> items;
    std::uint64_t next_id = 1;

    void install(http::router& r) {
        r.get("/items", [this](http::route_request&, http::response& res) {
            json all = json::array();
            for (const auto& kv : items) all.push_back(kv.second);
            send_json(res, 200, all);
        });
        r.post("/items", [this](http::route_request& req, http::response& res) {
            json item = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
            if (item.is_discarded() || !item.is_object())
                return send_error(res, 400, "the body must be a JSON object");
            const std::uint64_t id = next_id++;
            item["id"] = id;
            items[id] = item;
            res.header("Location", "/items/" + std::to_string(id));
            send_json(res, 201, item);
        });
        r.get("/items/{id}", [this](http::route_request& req, http::response& res) {
            std::uint64_t id = 0;
            auto it = parse_number(req.param("id"), id) ? items.find(id) : items.end();
            if (it == items.end()) return send_error(res, 404, "no such item");
            send_json(res, 200, it->second);
        });
        r.delete_("/items/{id}", [this](http::route_request& req, http::response& res) {
            std::uint64_t id = 0;
            if (!parse_number(req.param("id"), id) || items.erase(id) == 0)
                return send_error(res, 404, "no such item");
            res.status(204).end();
        });
        r.stream("POST", "/blobs", [](http::route_request&, http::body_reader& body, http::response& res) {
            auto counter = std::make_shared<blob_counter>();
            counter->body = std::move(body);
            counter->res = std::move(res);
            counter->next();
        });
        r.get("/blobs/{n}", [](http::route_request& req, http::response& res) {
            auto sender = std::make_shared<blob_sender>();
            if (!parse_number(req.param("n"), sender->size) || sender->size > (std::uint64_t(1) << 40))
                return send_error(res, 400, "n must be a number of bytes up to 2^40");
            sender->res = std::move(res);
            sender->res.header("Content-Type", "application/octet-stream").content_length(sender->size);
            sender->pump();
        });
    }
};

} // namespace

int main(int argc, char** argv) {
    std::uint16_t port = 8080;
    for (int i = 1; i < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port") && i + 1 < argc) {
            port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        } else {
            std::fprintf(stderr, "usage: rest_api [--port P]\n");
            return 2;
        }
    }

    sluice::loop loop;
    http::server_settings settings;
    settings.limits.max_body = std::uint64_t(16) << 30; // streamed uploads: bounded by this only
    http::server server(loop, settings);

    http::router_limits limits;
    limits.max_body = 1 << 20; // item JSON: past this, 413
    http::router router(limits);
    // Logging: before the handler and after it returned (streamed answers end later).
    router.use([](http::route_request& req, http::response& res, http::route_next& next) {
        const auto start = std::chrono::steady_clock::now();
        next();
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start).count();
        // The route taken (or the status the router answered): the response's own status
        // is the handler's business, and a streamed answer is still going on here.
        const std::string route = req.status() == 200 ? std::string(req.pattern()) : std::to_string(req.status());
        std::printf("%.*s %.*s -> %s%s (%lld us)\n", static_cast<int>(req.method().size()),
                    req.method().data(), static_cast<int>(req.target().size()), req.target().data(),
                    route.c_str(), res ? "" : ", answered asynchronously", static_cast<long long>(us));
        std::fflush(stdout);
    });
    router.on_error([](http::route_request& req, http::response& res, unsigned status) {
        if (status == 405) {
            json body = {{"status", 405}, {"error", "method not allowed"}, {"allow", std::string(req.allow())}};
            return send_json(res, 405, body);
        }
        send_error(res, status);
    });
    items_api api;
    api.install(router);
    if (auto ec = router.error()) {
        std::fprintf(stderr, "rest_api: routes: %s\n", ec.message().c_str());
        return 1;
    }
    router.attach(server);

    if (auto ec = server.listen(sluice::endpoint::any_v4(port))) {
        std::fprintf(stderr, "rest_api: listen on port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    std::error_code ec;
    std::printf("rest_api: listening on port %u\n", server.local_endpoint(ec).port());
    std::fflush(stdout);
    loop.on_signal(SIGINT, [&](int) { server.stop(); loop.stop(); });
    loop.on_signal(SIGTERM, [&](int) { server.stop(); loop.stop(); });
    loop.run();
    std::printf("rest_api: stopped\n");
    return 0;
}
