// sluice — out-of-line bodies of sluice/http/impl/route_tree.hpp: compiled in every translation
// unit when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/impl/route_tree.hpp>

namespace sluice {
namespace http {
SLUICE_DECL std::error_code route_tree::add(std::string_view method, std::string_view pattern,
                                            std::uint32_t id) {
    if (!valid_method(method)) return make_error_code(route_error::bad_method);
    std::vector<std::string> names;
    std::uint32_t n = 0;
    if (auto ec = descend(pattern, true, n, names)) return ec;
    for (const method_route& m : nodes_[n].methods)
        if (m.method == method) return make_error_code(route_error::duplicate_route);
    nodes_[n].methods.push_back(method_route{std::string(method), id, to_verb(method)});
    if (names_.size() <= id) names_.resize(id + 1);
    const bool literal = names.empty();
    names_[id] = std::move(names);
    if (literal && !has_dot_segment(pattern)) add_static(pattern.substr(1), n);
    return {};
}

SLUICE_DECL void route_tree::add_static(std::string_view path, std::uint32_t node) {
    if (static_route_node(path) != none) return; // another method of the same path
    if ((static_count_ + 1) * 2 > static_.size()) { // keep it at most half full
        std::vector<static_entry> old;
        old.swap(static_);
        static_.resize(old.empty() ? 16 : old.size() * 2);
        static_count_ = 0;
        for (static_entry& e : old)
            if (e.node != none) add_static(e.path, e.node);
    }
    const std::size_t mask = static_.size() - 1;
    for (std::size_t i = hash_path(path) & mask;; i = (i + 1) & mask) {
        if (static_[i].node == none) {
            static_[i].path.assign(path.data(), path.size());
            static_[i].node = node;
            ++static_count_;
            return;
        }
    }
}

SLUICE_DECL std::uint32_t route_tree::static_route_node(std::string_view path) const noexcept {
    if (static_.empty()) return none;
    const std::size_t mask = static_.size() - 1;
    for (std::size_t i = hash_path(path) & mask;; i = (i + 1) & mask) {
        const static_entry& e = static_[i];
        if (e.node == none) return none;
        if (same(e.path, path)) return e.node;
    }
}

SLUICE_DECL std::uint32_t route_tree::static_route(std::string_view method, verb v,
                                                   std::string_view path) const {
    const std::uint32_t n = static_route_node(path);
    return n == none ? none : route_for(method, v, nodes_[n]);
}

SLUICE_DECL std::error_code route_tree::mount(std::string_view prefix, const route_tree* sub) {
    std::vector<std::string> names;
    std::uint32_t n = 0;
    if (auto ec = descend(prefix, false, n, names)) return ec;
    if (nodes_[n].mount) return make_error_code(route_error::duplicate_route);
    nodes_[n].mount = sub;
    return {};
}

SLUICE_DECL route_match route_tree::match(std::string_view method, verb v,
                                          std::string_view raw_path) const {
    route_match m;
    if (raw_path.empty() || raw_path[0] != '/') {
        m.status = 400;
        return m;
    }
    raw_path.remove_prefix(1);
    const std::uint32_t fixed = static_route(method, v, raw_path);
    if (fixed != none) {
        m.status = 200;
        m.route = fixed;
        m.owner = owner_;
        return m;
    }
    walk_state w(method, v, m);
    // Split as is while nothing needs decoding (the common case): the segments are then
    // views of the path, copied into the match only when a parameter takes one.
    bool encoded = false;
    for (std::size_t i = 0, start = 0; !raw_path.empty(); ++i) {
        if (i == raw_path.size() || raw_path[i] == '/') {
            if (w.segs.size() == limits_.max_segments) {
                m.status = 414;
                return m;
            }
            std::string_view seg = raw_path.substr(start, i - start);
            if (!seg.empty() && seg[0] == '.' && (seg.size() == 1 || seg == "..")) {
                m.status = 400;
                return m;
            }
            w.segs.push_back(seg);
            if (i == raw_path.size()) break;
            start = i + 1;
        } else if (raw_path[i] == '%') {
            encoded = true;
            break;
        } else if (raw_path[i] == '\0') {
            m.status = 400;
            return m;
        }
    }
    w.joined = raw_path;
    if (encoded) {
        w.segs.clear();
        // Decoded segments never grow, so the views into decoded_ stay valid while it fills.
        m.decoded_.reserve(raw_path.size());
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
        w.joined = m.decoded_;
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

SLUICE_DECL std::error_code route_tree::descend(std::string_view pattern, bool params_allowed,
                                                std::uint32_t& n, std::vector<std::string>& names) {
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
                                       [](const auto& a, std::string_view b) {
                                           return literal_less(a.first, b);
                                       });
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

SLUICE_DECL std::uint32_t route_tree::route_for(std::string_view method, verb v,
                                                const node& x) const noexcept {
    // Verbs compare as numbers; methods without one of their own (verb::other) by name.
    const method_route* get = nullptr;
    for (const method_route& r : x.methods) {
        if (r.v == v && (v != verb::other || same(r.method, method))) return r.route;
        if (r.v == verb::get) get = &r;
    }
    return get && v == verb::head ? get->route : none;
}

SLUICE_DECL std::uint32_t route_tree::route_at(walk_state& w, const node& x) const {
    const std::uint32_t found = route_for(w.method, w.v, x);
    if (found != none) return found;
    for (const method_route& r : x.methods)
        if (std::find(w.allowed.begin(), w.allowed.end(), r.method) == w.allowed.end())
            w.allowed.push_back(r.method);
    return none;
}

SLUICE_DECL bool route_tree::take(walk_state& w, std::uint32_t route) const {
    route_match& m = w.m;
    m.route = route;
    m.owner = owner_;
    m.params_.clear();
    const std::vector<std::string>& names = names_[route];
    const std::size_t total = w.joined.size();
    for (std::size_t k = 0; w.own_from + k < w.captured.size() && k < names.size(); ++k) {
        const std::size_t seg = w.captured[w.own_from + k].seg;
        std::size_t offset = total, length = 0;
        if (seg < w.segs.size()) {
            offset = static_cast<std::size_t>(w.segs[seg].data() - w.joined.data());
            length = w.captured[w.own_from + k].rest ? total - offset : w.segs[seg].size();
        }
        m.params_.push_back({names[k], offset, length});
    }
    // Segments still viewing the request's path: the values are kept with the match.
    if (!m.params_.empty() && m.decoded_.data() != w.joined.data())
        m.decoded_.assign(w.joined.data(), w.joined.size());
    return true;
}

SLUICE_DECL bool route_tree::walk(walk_state& w, std::uint32_t n, std::size_t i,
                                  std::size_t depth) const {
    const node& x = nodes_[n];
    if (i == w.segs.size() && !x.methods.empty()) {
        std::uint32_t r = route_at(w, x);
        if (r != none) return take(w, r);
    }
    if (i < w.segs.size()) {
        const auto& lits = x.literals;
        auto it = std::lower_bound(lits.begin(), lits.end(), w.segs[i],
                                   [](const auto& a, std::string_view b) {
                                       return literal_less(a.first, b);
                                   });
        if (it != lits.end() && same(it->first, w.segs[i]) && walk(w, it->second, i + 1, depth))
            return true;
        if (x.param && !w.segs[i].empty()) {
            w.captured.push_back(capture{i, false});
            if (walk(w, x.param, i + 1, depth)) return true;
            w.captured.pop_back();
        }
    }
    if (x.wildcard && i < w.segs.size()) { // "/static/{p...}" needs the "/" after static
        const node& rest = nodes_[x.wildcard];
        w.captured.push_back(capture{i, true});
        std::uint32_t r = rest.methods.empty() ? none : route_at(w, rest);
        if (r != none) return take(w, r);
        w.captured.pop_back();
    }
    if (x.mount && depth < limits_.max_mount_depth) {
        // The mounted router sees only its own parameters: those taken from here on.
        const std::size_t outer = w.own_from;
        w.own_from = w.captured.size();
        w.m.trail.push_back(owner_);
        if (x.mount->walk(w, 0, i, depth + 1)) return true;
        w.m.trail.pop_back();
        w.own_from = outer;
    }
    return false;
}

} // namespace http
} // namespace sluice
