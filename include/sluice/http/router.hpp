// sluice — a request router for http::server: method + path patterns with named
// parameters, sub-routers mounted under a prefix, middleware, 404/405 answers.
//
//     http::router r;
//     r.get("/items/{id}", [](http::route_request& req, http::response& res) {
//         res.end("item " + std::string(req.param("id")));
//     });
//     r.stream("POST", "/upload", [](http::route_request&, http::body_reader& body,
//                                    http::response& res) { /* read as it arrives */ });
//     r.use([](http::route_request& req, http::response& res, http::route_next& next) {
//         res.header("X-Served-By", "sluice"); // before the handler
//         next();                              // the rest of the chain, then the handler
//     });
//     if (r.error()) return 1;                 // a bad pattern, a duplicate route
//     r.attach(server);                        // installs server.on_request_stream
//
// Patterns and matching are in impl/route_tree.hpp (pure: router::match() is usable
// without a server). Two kinds of route:
//   - route()/get()/post()/...: the body is read whole first (up to
//     router_limits::max_body, else 413), then the middlewares and the handler run with
//     req.body(). A request without a body runs at once, on the server's views.
//   - stream(): middlewares and handler run as soon as the head is complete; the body is
//     the handler's to read from the body_reader (backpressure, any size).
// HEAD is answered by the GET route (the server sends no body). A request no route takes
// is answered by the error handler (on_error; plain text by default): 404, 405 with
// `Allow`, 400 for a malformed path, 414 past max_segments, 413 for a buffered body
// over the limit.
//
// Middleware: use(mw) adds mw(req, res, next) to the router's chain. Calling next() runs
// the rest of the chain and the handler, inside that call: code before it runs before the
// handler, code after it once the handler returned (which may have moved the response out
// to answer later: `res` is then empty). Not calling next() short-circuits: the
// middleware answers. next() must be called (if at all) during the middleware's call.
// The root's middlewares see every request, including those answered 404/405; a mounted
// router's run after its parent's, for the requests routed to one of its routes.
//
// Lifetime: the router is a handle on counted state; attach() makes the server keep the
// state, so the handle may go. Register routes before serving. One router's state is
// used from one loop's thread (build one per loop for a loop_group).
#pragma once

#include <sluice/http/impl/route_tree.hpp>
#include <sluice/http/server.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace http {

// First query parameter whose decoded key is `key`, decoded into `value` ('+' is a space).
// False when absent or malformed.
inline bool query_value(std::string_view query, std::string_view key, std::string& value) {
    std::string k;
    for (const query_param& p : query_params(query)) {
        k.clear();
        if (percent_decode(p.key, k, true) || k != key) continue;
        value.clear();
        return !percent_decode(p.value, value, true);
    }
    return false;
}

namespace detail {
struct router_state_access; // grants route_request's internals to the router
} // namespace detail

// What middlewares and handlers see: the request (views valid during the call, as for
// server handlers) and the routing outcome.
class route_request {
  public:
    route_request(const request_view& v, const route_match& m, std::string_view pattern,
                  const endpoint* client = nullptr) noexcept
        : v_(&v), m_(&m), pattern_(pattern), client_(client) {}

    const request_view& view() const noexcept { return *v_; }
    std::string_view method() const noexcept { return v_->method(); }
    http::verb verb() const noexcept { return v_->verb(); }
    std::string_view target() const noexcept { return v_->target(); }
    std::string_view path() const noexcept { return v_->path(); } // raw (still encoded)
    std::string_view query() const noexcept { return v_->query(); }
    std::string_view get(std::string_view name) const noexcept { return v_->get(name); }
    const header* begin() const noexcept { return v_->begin(); }
    const header* end() const noexcept { return v_->end(); }
    std::string_view body() const noexcept { return v_->body(); }
    endpoint client() const { return client_ ? *client_ : v_->client(); }

    // Path parameters, decoded: param("id") for "/items/{id}"; empty when absent.
    std::string_view param(std::string_view name) const noexcept { return m_->param(name); }
    std::size_t param_count() const noexcept { return m_->param_count(); }
    std::string_view param_name(std::size_t i) const noexcept { return m_->param_name(i); }
    std::string_view param_value(std::size_t i) const noexcept { return m_->param_value(i); }
    // A query parameter, decoded (see query_value).
    bool query_param(std::string_view key, std::string& value) const {
        return query_value(query(), key, value);
    }

    // 200 when a route matched, else what the router will answer (400/404/405/413/414).
    unsigned status() const noexcept { return status_ ? status_ : m_->status; }
    std::string_view allow() const noexcept { return m_->allow(); }
    // The matched route's pattern as registered ("/items/{id}"): for logs and metrics.
    std::string_view pattern() const noexcept { return pattern_; }

  private:
    friend struct detail::router_state_access;
    const request_view* v_;
    const route_match* m_;
    std::string_view pattern_;
    const endpoint* client_;
    unsigned status_ = 0; // an error found after matching (the body over the limit)
};

class route_next;
using route_handler = unique_function<void(route_request&, response&)>;
using route_stream_handler = unique_function<void(route_request&, body_reader&, response&)>;
using route_middleware = unique_function<void(route_request&, response&, route_next&)>;
// Answers a request no route takes; `status` is also req.status().
using route_error_handler = unique_function<void(route_request&, response&, unsigned status)>;

namespace detail {

struct router_state;

// One request going through a chain of middlewares to its end.
struct route_run {
    route_request& req;
    response& res;
    body_reader* body;
    std::vector<route_middleware*> chain;
    router_state* owner; // the matched route's router, or null
    router_state* root;
};
SLUICE_DECL void route_step(route_run& run, std::size_t i);

} // namespace detail

// The rest of a middleware chain: call it once to go on (see the top of this file).
class route_next {
  public:
    // Not kept: it points into the running chain, which ends with the middleware's call.
    route_next(const route_next&) = delete;
    route_next& operator=(const route_next&) = delete;

    void operator()() {
        if (called_) return;
        called_ = true;
        detail::route_step(*run_, index_);
    }
    bool called() const noexcept { return called_; }

  private:
    friend void detail::route_step(detail::route_run&, std::size_t);
    route_next(detail::route_run& run, std::size_t index) noexcept : run_(&run), index_(index) {}
    detail::route_run* run_;
    std::size_t index_;
    bool called_ = false;
};

namespace detail {

struct router_state_access {
    static void set_status(route_request& r, unsigned s) noexcept { r.status_ = s; }
    static std::uint32_t route(const route_request& r) noexcept { return r.m_->route; }
};

// A buffered route's request kept while its body arrives: the head copied (the server's
// views die with its call) and the match.
struct held_request final : ref_counted<held_request> {
    held_request(const request_view& v, route_match m) : match(std::move(m)), client(v.client()) {
        const message& src = v.msg();
        msg = src;
        method.assign(src.method.data(), src.method.size());
        target.assign(src.target.data(), src.target.size());
        fields.reserve(src.num_headers);
        for (const header& h : src) fields.emplace_back(std::string(h.name), std::string(h.value));
        // `fields` is complete and never changes again: views into it stay valid.
        headers.reserve(fields.size() + 1);
        for (const auto& f : fields) headers.push_back(header{f.first, f.second});
        headers.push_back(header{}); // never empty: data() must not be null
        msg.method = method;
        msg.target = target;
        msg.headers = headers.data();
        msg.header_capacity = static_cast<std::uint32_t>(headers.size());
        msg.num_headers = static_cast<std::uint32_t>(fields.size());
        msg.num_trailers = 0;
    }
    route_match match;
    endpoint client;
    std::string method, target;
    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<header> headers;
    message msg;
    body_reader body;
    response res;
};

struct router_state final : ref_counted<router_state> {
    struct route_entry {
        std::string pattern;
        route_handler buffered; // one of the two is set
        route_stream_handler streamed;
    };

    explicit router_state(router_limits limits) : tree(this, limits) {}

    route_tree tree;
    std::vector<route_entry> routes; // by route id
    std::vector<route_middleware> middlewares;
    route_error_handler on_error;
    std::vector<ref<router_state>> mounted;
    std::error_code first_error;

    std::error_code keep(std::error_code ec) {
        if (ec && !first_error) first_error = ec;
        return ec;
    }

    SLUICE_DECL std::error_code add(std::string_view method, std::string_view pattern,
                                    route_entry e);

    SLUICE_DECL route_match match(std::string_view method, verb v, std::string_view target) const;

    // The server's handlers (attach()): requests with a body, and those without one.
    SLUICE_DECL void serve(const request_view& v, body_reader& body, response& res);
    SLUICE_DECL void serve_bodiless(const request_view& v, response& res);

    void run(const request_view& v, const route_match& m, response& res, body_reader* body,
             unsigned late_status, const endpoint* client) {
        router_state* owner = m.found() ? static_cast<router_state*>(m.owner) : nullptr;
        route_request req(v, m, owner ? std::string_view(owner->routes[m.route].pattern) : "",
                          client);
        if (late_status) router_state_access::set_status(req, late_status);
        route_run r{req, res, body, {}, owner, this};
        if (middlewares.empty() && (!owner || (owner == this && m.trail.size() <= 1)))
            return finish(r); // no chain to build: nearly every router without middleware
        auto add_chain = [&r](router_state* s) {
            for (route_middleware& mw : s->middlewares) r.chain.push_back(&mw);
        };
        add_chain(this);
        if (owner) {
            // trail: the routers passed through (root first, it is `this`), then the owner.
            for (std::size_t i = 1; i < m.trail.size(); ++i)
                add_chain(static_cast<router_state*>(m.trail[i]));
            if (owner != this) add_chain(owner);
        }
        route_step(r, 0);
    }

    // The end of the chain: the route, or the answer to a request none takes.
    SLUICE_DECL static void finish(route_run& r);
};

} // namespace detail

// A move-only handle on a router's routes, middlewares and mounted routers.
class router {
  public:
    explicit router(router_limits limits = {})
        : st_(detail::make_ref<detail::router_state>(limits)) {}
    router(router&&) noexcept = default;
    router& operator=(router&&) noexcept = default;
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    // A route whose body is read whole before its handler runs; see the top of the file.
    std::error_code route(std::string_view method, std::string_view pattern, route_handler h) {
        if (!st_) return make_error_code(route_error::empty_router);
        return st_->add(method, pattern, {std::string(), std::move(h), nullptr});
    }
    std::error_code get(std::string_view pattern, route_handler h) {
        return route("GET", pattern, std::move(h));
    }
    std::error_code post(std::string_view pattern, route_handler h) {
        return route("POST", pattern, std::move(h));
    }
    std::error_code put(std::string_view pattern, route_handler h) {
        return route("PUT", pattern, std::move(h));
    }
    std::error_code patch(std::string_view pattern, route_handler h) {
        return route("PATCH", pattern, std::move(h));
    }
    std::error_code delete_(std::string_view pattern, route_handler h) {
        return route("DELETE", pattern, std::move(h));
    }
    // A route that runs at the end of the head and reads its body from the body_reader.
    std::error_code stream(std::string_view method, std::string_view pattern,
                           route_stream_handler h) {
        if (!st_) return make_error_code(route_error::empty_router);
        return st_->add(method, pattern, {std::string(), nullptr, std::move(h)});
    }

    // Hands the requests under `prefix` ("/api": literal segments only) that this
    // router's own routes do not take to `sub`, which then matches the rest of the path
    // ("/api/items" is "/items" there; its "/" is "/api" itself).
    std::error_code mount(std::string_view prefix, router&& sub) {
        if (!st_ || !sub.st_) return make_error_code(route_error::empty_router);
        if (auto ec = st_->tree.mount(prefix, &sub.st_->tree)) return st_->keep(ec);
        st_->mounted.push_back(std::move(sub.st_));
        return {};
    }

    void use(route_middleware mw) {
        if (st_) st_->middlewares.push_back(std::move(mw));
    }
    void on_error(route_error_handler h) {
        if (st_) st_->on_error = std::move(h);
    }

    // The first registration that failed (each also returns its own error).
    std::error_code error() const noexcept {
        return st_ ? st_->first_error : make_error_code(route_error::empty_router);
    }

    // Pure matching: what a request with this method and target (path and query, as
    // sent) would be routed to.
    route_match match(std::string_view method, std::string_view target) const {
        return st_ ? st_->match(method, to_verb(method), target) : route_match();
    }

    // Serves every request of `s` (server::on_request_stream, both handlers: a request
    // without a body skips the body reader unless its route streams); `s` keeps the routes.
    void attach(server& s) const {
        if (!st_) return;
        s.on_request_stream(
            [st = st_](const request_view& v, body_reader& b, response& r) { st->serve(v, b, r); },
            [st = st_](const request_view& v, response& r) { st->serve_bodiless(v, r); });
    }

  private:
    detail::ref<detail::router_state> st_;
};

} // namespace http
} // namespace sluice

#if SLUICE_HAS_COROUTINES
#include <sluice/http/server_coro.hpp>

namespace sluice::http {

// A routed request the coroutine owns: the request, its path parameters and its pattern.
struct routed_request : request {
    std::vector<std::pair<std::string, std::string>> params;
    std::string pattern;

    static routed_request copy_of(const route_request& r) {
        routed_request out;
        static_cast<request&>(out) = request::copy_of(r.view());
        for (std::size_t i = 0; i < r.param_count(); ++i)
            out.params.emplace_back(std::string(r.param_name(i)), std::string(r.param_value(i)));
        out.pattern = std::string(r.pattern());
        return out;
    }
    std::string_view param(std::string_view name) const noexcept {
        for (const auto& p : params)
            if (p.first == name) return p.second;
        return {};
    }
    bool query_param(std::string_view key, std::string& value) const {
        return query_value(query(), key, value);
    }
};

// co_route(loop, f): a route handler that runs f(routed_request, response) -> task<void>
// as a task on `l` (the server's loop). The middlewares ran before it starts.
template <class F>
route_handler co_route(loop& l, F f) {
    return [&l, f = std::move(f)](route_request& req, response& res) mutable {
        spawn(l, f(routed_request::copy_of(req), std::move(res)));
    };
}

// co_stream_route(loop, f): f(routed_request, body_reader, response) -> task<void>, for
// router::stream(); `co_await body.read()` reads the body as it arrives.
template <class F>
route_stream_handler co_stream_route(loop& l, F f) {
    return [&l, f = std::move(f)](route_request& req, body_reader& body, response& res) mutable {
        spawn(l, f(routed_request::copy_of(req), std::move(body), std::move(res)));
    };
}

} // namespace sluice::http
#endif

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/router.ipp>
#endif
