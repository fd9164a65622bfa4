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
#include <sluice/http/message.hpp>
#include <sluice/http/url.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
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
    SLUICE_DECL std::error_code add(std::string_view method, std::string_view pattern,
                                    std::uint32_t id);

    // Hands what is not matched under `prefix` (literal segments only) to `sub`.
    SLUICE_DECL std::error_code mount(std::string_view prefix, const route_tree* sub);

    // Matches a request: `method` as sent ("HEAD" falls back to the GET route), `raw_path`
    // still percent-encoded, starting with '/', without the query.
    route_match match(std::string_view method, std::string_view raw_path) const {
        return match(method, to_verb(method), raw_path);
    }
    // The same with the method's verb known (the parser's): methods compare as verbs.
    SLUICE_DECL route_match match(std::string_view method, verb v, std::string_view raw_path) const;

  private:
    struct method_route {
        std::string method;
        std::uint32_t route;
        verb v; // to_verb(method): other for a method without a verb of its own
    };
    struct node {
        std::vector<std::pair<std::string, std::uint32_t>> literals; // by literal_less
        std::uint32_t param = 0;    // the {name} child (0: none; node 0 is the root)
        std::uint32_t wildcard = 0; // the {name...} child
        const route_tree* mount = nullptr;
        std::vector<method_route> methods;
    };
    // A stack that lives in place up to N elements and spills to the heap beyond: a
    // typical path matches without allocating.
    template <class T, std::size_t N>
    class small_stack {
      public:
        small_stack() noexcept {} // not `= default`: value-initialising would zero raw_
        std::size_t size() const noexcept { return n_; }
        bool empty() const noexcept { return n_ == 0; }
        T& operator[](std::size_t i) noexcept { return n_ <= N ? in()[i] : out_[i]; }
        const T& operator[](std::size_t i) const noexcept {
            return n_ <= N ? const_cast<small_stack*>(this)->in()[i] : out_[i];
        }
        void push_back(const T& v) {
            if (n_ < N) {
                new (raw_ + n_++ * sizeof(T)) T(v);
                return;
            }
            if (n_ == N) out_.assign(in(), in() + N); // the in-place ones move out once
            out_.push_back(v);
            ++n_;
        }
        void pop_back() noexcept {
            if (n_ > N) out_.pop_back();
            if (--n_ == N) out_.clear();
        }
        void clear() noexcept {
            out_.clear();
            n_ = 0;
        }
      private:
        static_assert(std::is_trivially_copyable<T>::value &&
                          std::is_trivially_destructible<T>::value,
                      "kept as raw bytes");
        T* in() noexcept { return std::launder(reinterpret_cast<T*>(raw_)); }
        // Left uninitialised: zeroing a dozen slots would cost more than a short path's match.
        alignas(T) unsigned char raw_[N * sizeof(T)];
        std::vector<T> out_;
        std::size_t n_ = 0;
    };
    struct capture {
        std::size_t seg; // the segment's index
        bool rest;       // the wildcard: that segment and all after it
    };
    struct walk_state {
        // Not an aggregate: brace-initialising one zeroes the whole in-place storage.
        walk_state(std::string_view meth, verb vb, route_match& match) noexcept
            : method(meth), v(vb), m(match) {}
        std::string_view method;
        verb v;
        route_match& m;
        small_stack<std::string_view, 12> segs;
        small_stack<capture, 8> captured; // parameters taken on the current path
        std::vector<std::string_view> allowed; // methods of the path's nodes (for 405)
        // The segments joined by '/': the request's path, or the match's decoded copy.
        std::string_view joined;
        std::size_t own_from = 0; // captured[own_from..] are the current router's
    };

    // The order of a node's literal children: by length, then bytes, so that most
    // comparisons of a lookup end at the length.
    static bool literal_less(std::string_view a, std::string_view b) noexcept {
        return a.size() != b.size() ? a.size() < b.size() : a.compare(b) < 0;
    }
    // Equality of methods and path segments: the short ones (methods) without a call.
    static bool same(std::string_view a, std::string_view b) noexcept {
        if (a.size() != b.size()) return false;
        if (a.size() > 4) return std::memcmp(a.data(), b.data(), a.size()) == 0;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (a[i] != b[i]) return false;
        return true;
    }

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
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_'))
                return false;
        return true;
    }

    // Walks (creating) the nodes of `pattern`; `n` is the last one.
    SLUICE_DECL std::error_code descend(std::string_view pattern, bool params_allowed,
                                        std::uint32_t& n, std::vector<std::string>& names);

    // The route of node `x` for `method` (HEAD falls back to GET), or none.
    SLUICE_DECL std::uint32_t route_for(std::string_view method, verb v,
                                        const node& x) const noexcept;
    // The same for the request's method; none notes the path's methods (for 405).
    SLUICE_DECL std::uint32_t route_at(walk_state& w, const node& x) const;

    SLUICE_DECL bool take(walk_state& w, std::uint32_t route) const;

    // Paths made only of literal segments, hashed to their nodes: a request for one is
    // matched with one lookup instead of a walk (the walk would end at the same node,
    // since it tries literals first). Open addressing; `none` marks a free slot.
    struct static_entry {
        std::string path; // without the leading '/'
        std::uint32_t node = none;
    };
    // Eight bytes at a time (a byte-at-a-time FNV-1a was a fifth of a match): multiply and
    // fold. Only this process's table uses it, so the byte order in a word does not matter.
    static std::size_t hash_path(std::string_view p) noexcept {
        constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
        std::uint64_t h = p.size() * k;
        std::size_t i = 0;
        for (; i + 8 <= p.size(); i += 8) {
            std::uint64_t w;
            std::memcpy(&w, p.data() + i, 8);
            h = (h ^ w) * k;
            h ^= h >> 29;
        }
        std::uint64_t tail = 0;
        for (; i < p.size(); ++i) tail = (tail << 8) | static_cast<unsigned char>(p[i]);
        h = (h ^ tail) * k;
        return static_cast<std::size_t>(h ^ (h >> 32));
    }
    // A request path with a "." or ".." segment is refused (400), so a pattern with one
    // stays out of the table.
    static bool has_dot_segment(std::string_view pattern) noexcept {
        for (std::size_t i = 0; i < pattern.size();) {
            std::size_t j = pattern.find('/', i + 1);
            if (j == std::string_view::npos) j = pattern.size();
            const std::string_view seg = pattern.substr(i + 1, j - i - 1);
            if (seg == "." || seg == "..") return true;
            i = j;
        }
        return false;
    }
    SLUICE_DECL void add_static(std::string_view path, std::uint32_t node);
    SLUICE_DECL std::uint32_t static_route_node(std::string_view path) const noexcept;
    // The route of a static path for `method` (HEAD falls back to GET), or none.
    SLUICE_DECL std::uint32_t static_route(std::string_view method, verb v,
                                           std::string_view path) const;

    // Matches segs[i..] from node `n`; true once a route for the method is found.
    SLUICE_DECL bool walk(walk_state& w, std::uint32_t n, std::size_t i, std::size_t depth) const;

    void* owner_;
    router_limits limits_;
    std::vector<node> nodes_;                     // [0] is "/"
    std::vector<std::vector<std::string>> names_; // parameter names, by route id
    std::vector<static_entry> static_;            // size 0 or a power of two
    std::size_t static_count_ = 0;
};

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/route_tree.ipp>
#endif
