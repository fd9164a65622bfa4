// sluice — the router's matching, sans-I/O: route patterns in a segment trie, and a
// request's method and raw path matched against it. Part of <sluice/http/router.hpp>.
//
// Patterns: "/items/{id}" (a parameter: one non-empty segment), "/files/{rest...}" (a
// wildcard: the rest of the path, possibly empty; last segment only), anything else a
// literal segment compared with the decoded request segment. A literal may not hold '%',
// '{' or '}': literals are written decoded ("/café"), so there is one spelling of each.
//
// Matching walks the trie one segment at a time: a literal child is found by binary
// search, so the cost depends on the path's length and the routes sharing its prefix,
// not on how many routes exist. At each node the candidates are tried from the most
// specific down: literal, then parameter, then wildcard, then a router mounted there;
// a candidate whose subtree does not match gives way to the next. Every node is entered
// at most once per match (a node consumes a fixed number of segments), so the walk is
// bounded by the trie's size even when it has to back out.
//
// Each segment is percent-decoded on its own before matching: "%2F" inside a segment is
// a '/' in that segment's value and never splits it. An invalid escape, a NUL, or a "."
// or ".." segment makes the request a 400 (a router that resolved dot segments would
// let "/public/../admin" reach a route the prefix was meant to keep out).
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/url.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sluice {
namespace http {

// Why registering a route failed (router::error() keeps the first).
enum class route_error {
    bad_pattern = 1, // not starting with '/', a bad {name}, '%' or a brace in a literal
    bad_method,      // empty, or not an HTTP token
    duplicate_route, // the same method and pattern (or two routers at one prefix)
    too_many_params, // more than router_limits::max_params
    too_many_segments,
    empty_router, // mount() of a router handle that was moved from
};

} // namespace http
} // namespace sluice

namespace std {
template <>
struct is_error_code_enum<sluice::http::route_error> : true_type {};
} // namespace std

namespace sluice {
namespace http {
namespace detail {

class route_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.http.route"; }
    std::string message(int ev) const override {
        switch (static_cast<route_error>(ev)) {
        case route_error::bad_pattern:
            return "invalid route pattern";
        case route_error::bad_method:
            return "invalid route method";
        case route_error::duplicate_route:
            return "a route with this method and pattern already exists";
        case route_error::too_many_params:
            return "route pattern has too many parameters";
        case route_error::too_many_segments:
            return "route pattern has too many segments";
        case route_error::empty_router:
            return "the router to mount is empty (moved from)";
        }
        return "unknown sluice.http.route error";
    }
};

} // namespace detail

inline const std::error_category& route_category() noexcept {
    static const detail::route_category_impl cat;
    return cat;
}

inline std::error_code make_error_code(route_error e) noexcept {
    return std::error_code(static_cast<int>(e), route_category());
}

// Every limit has a default that fits real APIs; a request over one is refused, a
// pattern over one is a registration error.
struct router_limits {
    std::size_t max_segments = 32; // per request path (414 past it) and per pattern
    std::size_t max_params = 16;   // parameters (and wildcard) per pattern
    std::size_t max_mount_depth = 8;
    // Bodies of buffered routes (router::route): 0 = the server's max_buffered_body.
    // Larger bodies are answered 413 through the error handler.
    std::size_t max_body = 0;
};

// The outcome of matching one request. Parameter values are decoded copies held here, so
// a match may be moved and kept.
class route_match {
  public:
    static constexpr std::uint32_t none = ~std::uint32_t(0);

    // 200 when a route matched, else the status to answer: 400 (bad percent-encoding or
    // a dot segment), 404, 405 (allow() lists the path's methods), 414 (too many segments).
    unsigned status = 404;
    // The matched route: an id in the tree that holds it (the root's, or a mounted
    // router's: owner), and the trees passed through on the way, root first.
    std::uint32_t route = none;
    void* owner = nullptr;
    std::vector<void*> trail;

    bool found() const noexcept { return status == 200; }
    // "GET, HEAD, POST" for a 405.
    std::string_view allow() const noexcept { return allow_; }
    std::size_t param_count() const noexcept { return params_.size(); }
    std::string_view param_name(std::size_t i) const noexcept { return params_[i].name; }
    std::string_view param_value(std::size_t i) const noexcept {
        return std::string_view(decoded_).substr(params_[i].offset, params_[i].length);
    }
    // The decoded value of parameter `name`, or an empty view.
    std::string_view param(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (params_[i].name == name) return param_value(i);
        return {};
    }

  private:
    friend class route_tree;
    struct param_entry {
        std::string_view name; // into the route's pattern, which the router keeps
        std::size_t offset, length;
    };
    std::string decoded_; // the decoded segments, joined by '/'
    std::vector<param_entry> params_;
    std::string allow_;
};

// One router's trie. Mounted trees are other routers' and are only pointed to: the
// router keeps them alive.
class route_tree {
  public:
    static constexpr std::uint32_t none = route_match::none;

    explicit route_tree(void* owner, router_limits limits = {})
        : owner_(owner), limits_(limits), nodes_(1) {}

    const router_limits& limits() const noexcept { return limits_; }

    // Adds `pattern` for `method` as route `id`; the parameter names are kept with it.
    std::error_code add(std::string_view method, std::string_view pattern, std::uint32_t id) {
        if (!valid_method(method)) return make_error_code(route_error::bad_method);
        std::vector<std::string> names;
        std::uint32_t n = 0;
        if (auto ec = descend(pattern, true, n, names)) return ec;
        for (const method_route& m : nodes_[n].methods)
            if (m.method == method) return make_error_code(route_error::duplicate_route);
        nodes_[n].methods.push_back(method_route{std::string(method), id});
        if (names_.size() <= id) names_.resize(id + 1);
        names_[id] = std::move(names);
        return {};
    }

    // Hands what is not matched under `prefix` (literal segments only) to `sub`.
    std::error_code mount(std::string_view prefix, const route_tree* sub) {
        std::vector<std::string> names;
        std::uint32_t n = 0;
        if (auto ec = descend(prefix, false, n, names)) return ec;
        if (nodes_[n].mount) return make_error_code(route_error::duplicate_route);
        nodes_[n].mount = sub;
        return {};
    }

    // Matches a request: `method` as sent ("HEAD" falls back to the GET route), `raw_path`
    // still percent-encoded, starting with '/', without the query.
    route_match match(std::string_view method, std::string_view raw_path) const {
        route_match m;
        if (raw_path.empty() || raw_path[0] != '/') {
            m.status = 400;
            return m;
        }
        walk_state w{method, m, {}, {}, {}};
        // Decoded segments never grow, so the views into decoded_ stay valid while it fills.
        m.decoded_.reserve(raw_path.size());
        raw_path.remove_prefix(1);
        if (!raw_path.empty()) {
            for (std::size_t i = 0;;) {
                std::size_t j = raw_path.find('/', i);
                if (j == std::string_view::npos) j = raw_path.size();
                if (w.segs.size() == limits_.max_segments) {
                    m.status = 414;
                    return m;
                }
                if (!w.segs.empty()) m.decoded_.push_back('/');
                const std::size_t start = m.decoded_.size();
                if (percent_decode(raw_path.substr(i, j - i), m.decoded_)) {
                    m.status = 400;
                    return m;
                }
                std::string_view seg(m.decoded_.data() + start, m.decoded_.size() - start);
                if (seg == "." || seg == ".." || seg.find('\0') != std::string_view::npos) {
                    m.status = 400;
                    return m;
                }
                w.segs.push_back(seg);
                if (j == raw_path.size()) break;
                i = j + 1;
            }
        }
        if (walk(w, 0, 0, 0)) {
            m.status = 200;
            return m;
        }
        m.status = w.allowed.empty() ? 404 : 405;
        if (!w.allowed.empty()) {
            // A GET route answers HEAD too.
            if (std::find(w.allowed.begin(), w.allowed.end(), "GET") != w.allowed.end() &&
                std::find(w.allowed.begin(), w.allowed.end(), "HEAD") == w.allowed.end())
                w.allowed.insert(std::find(w.allowed.begin(), w.allowed.end(), "GET") + 1, "HEAD");
            for (std::string_view a : w.allowed) {
                if (!m.allow_.empty()) m.allow_ += ", ";
                m.allow_.append(a.data(), a.size());
            }
        }
        return m;
    }

  private:
    struct method_route {
        std::string method;
        std::uint32_t route;
    };
    struct node {
        std::vector<std::pair<std::string, std::uint32_t>> literals; // sorted by text
        std::uint32_t param = 0;    // the {name} child (0: none; node 0 is the root)
        std::uint32_t wildcard = 0; // the {name...} child
        const route_tree* mount = nullptr;
        std::vector<method_route> methods;
    };
    struct walk_state {
        std::string_view method;
        route_match& m;
        std::vector<std::string_view> segs;
        // Parameters captured on the current path: {segment index, whole rest?}.
        std::vector<std::pair<std::size_t, bool>> captured;
        std::vector<std::string_view> allowed; // methods of the path's nodes (for 405)
    };

    static bool token_char(char c) noexcept {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    }
    static bool valid_method(std::string_view m) noexcept {
        if (m.empty()) return false;
        for (char c : m)
            if (!token_char(c)) return false;
        return true;
    }
    static bool valid_name(std::string_view n) noexcept {
        if (n.empty()) return false;
        for (char c : n)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
                return false;
        return true;
    }

    // Walks (creating) the nodes of `pattern`; `n` is the last one.
    std::error_code descend(std::string_view pattern, bool params_allowed, std::uint32_t& n,
                            std::vector<std::string>& names) {
        if (pattern.empty() || pattern[0] != '/') return make_error_code(route_error::bad_pattern);
        pattern.remove_prefix(1);
        n = 0;
        if (pattern.empty()) return {};
        std::size_t count = 0;
        for (std::size_t i = 0;;) {
            std::size_t j = pattern.find('/', i);
            if (j == std::string_view::npos) j = pattern.size();
            const bool last = j == pattern.size();
            std::string_view seg = pattern.substr(i, j - i);
            if (++count > limits_.max_segments) return make_error_code(route_error::too_many_segments);
            if (!seg.empty() && seg.front() == '{') {
                if (!params_allowed || seg.size() < 3 || seg.back() != '}')
                    return make_error_code(route_error::bad_pattern);
                std::string_view name = seg.substr(1, seg.size() - 2);
                const bool rest = name.size() > 3 && name.substr(name.size() - 3) == "...";
                if (rest) name.remove_suffix(3);
                if (!valid_name(name) || (rest && !last))
                    return make_error_code(route_error::bad_pattern);
                for (const std::string& other : names)
                    if (other == name) return make_error_code(route_error::bad_pattern);
                if (names.size() == limits_.max_params)
                    return make_error_code(route_error::too_many_params);
                names.emplace_back(name);
                std::uint32_t& child = rest ? nodes_[n].wildcard : nodes_[n].param;
                if (!child) {
                    const auto created = static_cast<std::uint32_t>(nodes_.size());
                    nodes_.emplace_back(); // may move nodes_: `child` is not used after
                    (rest ? nodes_[n].wildcard : nodes_[n].param) = created;
                    n = created;
                } else {
                    n = child;
                }
            } else {
                if (seg.find_first_of("{}%") != std::string_view::npos)
                    return make_error_code(route_error::bad_pattern);
                auto& lits = nodes_[n].literals;
                auto it = std::lower_bound(lits.begin(), lits.end(), seg,
                                           [](const auto& a, std::string_view b) { return a.first < b; });
                if (it != lits.end() && it->first == seg) {
                    n = it->second;
                } else {
                    const auto created = static_cast<std::uint32_t>(nodes_.size());
                    lits.insert(it, {std::string(seg), created});
                    nodes_.emplace_back();
                    n = created;
                }
            }
            if (last) return {};
            i = j + 1;
        }
    }

    // A route of node `x` for the request's method, or none (noting the path's methods).
    std::uint32_t route_at(walk_state& w, const node& x) const {
        const method_route* get = nullptr;
        for (const method_route& r : x.methods) {
            if (r.method == w.method) return r.route;
            if (r.method == "GET") get = &r;
        }
        if (get && w.method == "HEAD") return get->route;
        for (const method_route& r : x.methods)
            if (std::find(w.allowed.begin(), w.allowed.end(), r.method) == w.allowed.end())
                w.allowed.push_back(r.method);
        return none;
    }

    bool take(walk_state& w, std::uint32_t route) const {
        route_match& m = w.m;
        m.route = route;
        m.owner = owner_;
        m.params_.clear();
        const std::vector<std::string>& names = names_[route];
        for (std::size_t k = 0; k < w.captured.size() && k < names.size(); ++k) {
            const std::size_t seg = w.captured[k].first;
            std::size_t offset = m.decoded_.size(), length = 0;
            if (seg < w.segs.size()) {
                offset = static_cast<std::size_t>(w.segs[seg].data() - m.decoded_.data());
                length = w.captured[k].second ? m.decoded_.size() - offset : w.segs[seg].size();
            }
            m.params_.push_back({names[k], offset, length});
        }
        return true;
    }

    // Matches segs[i..] from node `n`; true once a route for the method is found.
    bool walk(walk_state& w, std::uint32_t n, std::size_t i, std::size_t depth) const {
        const node& x = nodes_[n];
        if (i == w.segs.size() && !x.methods.empty()) {
            std::uint32_t r = route_at(w, x);
            if (r != none) return take(w, r);
        }
        if (i < w.segs.size()) {
            const auto& lits = x.literals;
            auto it = std::lower_bound(lits.begin(), lits.end(), w.segs[i],
                                       [](const auto& a, std::string_view b) { return a.first < b; });
            if (it != lits.end() && it->first == w.segs[i] && walk(w, it->second, i + 1, depth))
                return true;
            if (x.param && !w.segs[i].empty()) {
                w.captured.emplace_back(i, false);
                if (walk(w, x.param, i + 1, depth)) return true;
                w.captured.pop_back();
            }
        }
        if (x.wildcard && i < w.segs.size()) { // "/static/{p...}" needs the "/" after static
            const node& rest = nodes_[x.wildcard];
            w.captured.emplace_back(i, true);
            std::uint32_t r = rest.methods.empty() ? none : route_at(w, rest);
            if (r != none) return take(w, r);
            w.captured.pop_back();
        }
        if (x.mount && depth < limits_.max_mount_depth) {
            // The mounted router sees only its own parameters.
            std::vector<std::pair<std::size_t, bool>> outer;
            outer.swap(w.captured);
            w.m.trail.push_back(owner_);
            if (x.mount->walk(w, 0, i, depth + 1)) return true;
            w.m.trail.pop_back();
            outer.swap(w.captured);
        }
        return false;
    }

    void* owner_;
    router_limits limits_;
    std::vector<node> nodes_;                     // [0] is "/"
    std::vector<std::vector<std::string>> names_; // parameter names, by route id
};

} // namespace http
} // namespace sluice
