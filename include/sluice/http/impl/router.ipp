// sluice — out-of-line bodies of sluice/http/router.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/router.hpp>

#include <cstring>

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL void route_step(route_run& run, std::size_t i) {
    if (i == run.chain.size()) return router_state::finish(run);
    route_next next(run, i + 1);
    (*run.chain[i])(run.req, run.res, next);
}

SLUICE_DECL std::error_code router_state::add(std::string_view method, std::string_view pattern,
                                              route_entry e) {
    const auto id = static_cast<std::uint32_t>(routes.size());
    if (auto ec = tree.add(method, pattern, id)) return keep(ec);
    e.pattern.assign(pattern.data(), pattern.size());
    routes.push_back(std::move(e));
    return {};
}

SLUICE_DECL route_match router_state::match(std::string_view method, verb v,
                                            std::string_view target) const {
    if (!target.empty() && target[0] == '/') { // origin-form, nearly every request
        const void* q = std::memchr(target.data(), '?', target.size());
        return tree.match(method, v, q ? target.substr(0, static_cast<const char*>(q) - target.data())
                                    : target);
    }
    target_parts parts;
    route_match m;
    if (split_target(target, parts) ||
        (parts.form != target_parts::origin_form && parts.form != target_parts::absolute_form)) {
        m.status = 400;
        return m;
    }
    return tree.match(method, v, parts.path.empty() ? std::string_view("/") : parts.path);
}

SLUICE_DECL void router_state::serve(const request_view& v, body_reader& body, response& res) {
    route_match m = match(v.method(), v.verb(), v.target());
    router_state* owner = m.found() ? static_cast<router_state*>(m.owner) : nullptr;
    // A bodiless request's body is done: ask the reader only when there is one.
    if (owner && owner->routes[m.route].buffered && v.msg().has_body() && !body.done()) {
        ref<held_request> held = make_ref<held_request>(v, std::move(m));
        held->body = std::move(body);
        held->res = std::move(res);
        const std::size_t limit = owner->tree.limits().max_body;
        auto on_body = [self = ref<router_state>(this), held](std::error_code ec,
                                                              std::string_view all) {
            request_view owned(held->msg, all);
            self->run(owned, held->match, held->res, nullptr,
                      ec ? static_cast<unsigned>(suggested_status(ec)) : 0, &held->client);
            held->body.reset(); // breaks the cycle held -> reader -> this handler
        };
        if (limit)
            held->body.read_all(limit, std::move(on_body));
        else
            held->body.read_all(std::move(on_body));
        return;
    }
    run(v, m, res, &body, 0, nullptr);
}

SLUICE_DECL void router_state::serve_bodiless(const request_view& v, response& res) {
    route_match m = match(v.method(), v.verb(), v.target());
    if (m.found() && static_cast<router_state*>(m.owner)->routes[m.route].streamed) {
        body_reader ended = bodiless_body(v); // its reads say eof, as they would streamed
        return run(v, m, res, &ended, 0, nullptr);
    }
    run(v, m, res, nullptr, 0, nullptr);
}

SLUICE_DECL void router_state::finish(route_run& r) {
    const unsigned status = r.req.status();
    if (status == 200) {
        route_entry& e = r.owner->routes[router_state_access::route(r.req)];
        if (e.streamed) {
            body_reader none;
            e.streamed(r.req, r.body ? *r.body : none, r.res);
        } else {
            e.buffered(r.req, r.res);
        }
        return;
    }
    if (status == 405) r.res.header("Allow", r.req.allow());
    // The innermost router with an error handler answers.
    router_state* who = r.owner && r.owner->on_error ? r.owner : r.root;
    if (who->on_error) return who->on_error(r.req, r.res, status);
    r.res.status(status).header("Content-Type", "text/plain");
    std::string text(reason_phrase(status));
    text += '\n';
    r.res.end(text);
}

} // namespace detail
} // namespace http
} // namespace sluice
