// sluice — CORS (Fetch standard, "CORS protocol") as a pure function: given the
// policy and a request head, it says whether the request is allowed and which
// headers to add. Nothing here does I/O.
//
// Rules that are easy to get wrong and are enforced here:
//  - with credentials the origin is echoed, never "*" (browsers reject "*" then);
//  - whenever the answer depends on Origin, "Vary: Origin" is added so caches
//    do not hand one origin's answer to another;
//  - a preflight is only "ok" if the method and every requested header are allowed.
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/message.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace http {

struct cors_policy {
    std::vector<std::string> allowed_origins; // exact "scheme://host[:port]"; "*" = any
    std::vector<std::string> allowed_methods{"GET", "HEAD", "POST"};
    std::vector<std::string> allowed_headers; // case-insensitive; "*" = any (no credentials)
    std::vector<std::string> exposed_headers;
    bool allow_credentials = false;
    std::uint32_t max_age = 600; // seconds a preflight answer may be cached; 0 = omit
};

enum class cors_kind : std::uint8_t {
    not_cors,         // no Origin header: not a CORS request, add nothing
    allowed,          // actual request from an allowed origin
    denied,           // origin not allowed: answer without CORS headers
    preflight,        // OPTIONS preflight accepted: answer 204 with the headers
    preflight_denied, // preflight refused: answer 403 (headers hold only Vary)
};

// The headers to add. Views point into the policy, the request, and the
// decision's own buffers (so it can be neither copied nor moved); keep all three
// alive while sending.
class cors_decision {
  public:
    cors_decision(const cors_policy& policy, const message& req) { evaluate(policy, req); }
    cors_decision(const cors_decision&) = delete;
    cors_decision& operator=(const cors_decision&) = delete;

    cors_kind kind = cors_kind::not_cors;
    header headers[8];
    std::size_t count = 0;

    bool is_preflight() const noexcept {
        return kind == cors_kind::preflight || kind == cors_kind::preflight_denied;
    }
    const header* begin() const noexcept { return headers; }
    const header* end() const noexcept { return headers + count; }

  private:
    inline void evaluate(const cors_policy& policy, const message& req);
    void add(std::string_view n, std::string_view v) noexcept {
        if (count < 8) headers[count++] = header{n, v};
    }
    std::string methods_, headers_list_, exposed_, max_age_;
};

namespace detail {
inline bool cors_list_has(const std::vector<std::string>& list, std::string_view v,
                          bool case_insensitive) {
    for (const std::string& s : list)
        if (case_insensitive ? iequals(s, v) : s == v) return true;
    return false;
}
inline std::string cors_join(const std::vector<std::string>& list) {
    std::string out;
    for (const std::string& s : list) {
        if (!out.empty()) out += ", ";
        out += s;
    }
    return out;
}
inline std::string_view cors_trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
} // namespace detail

inline void cors_decision::evaluate(const cors_policy& policy, const message& req) {
    cors_decision& d = *this;
    const header* origin = req.find("Origin");
    if (!origin) return;
    const std::string_view o = origin->value;
    const bool any = detail::cors_list_has(policy.allowed_origins, "*", false);
    const bool wildcard = any && !policy.allow_credentials;
    const bool listed = detail::cors_list_has(policy.allowed_origins, o, false);
    // "null" (sandboxed documents, file:) is only allowed when listed explicitly.
    const bool ok = listed || (any && o != "null");
    const bool preflight = req.verb == verb::options && req.find("Access-Control-Request-Method");
    if (!wildcard) d.add("Vary", "Origin");
    if (!ok) {
        d.kind = preflight ? cors_kind::preflight_denied : cors_kind::denied;
        return;
    }
    if (preflight) {
        std::string_view method = detail::cors_trim(req.get("Access-Control-Request-Method"));
        bool method_ok = detail::cors_list_has(policy.allowed_methods, method, false);
        std::string_view asked = req.get("Access-Control-Request-Headers");
        bool any_header = wildcard && detail::cors_list_has(policy.allowed_headers, "*", false);
        bool headers_ok = true;
        std::size_t i = 0;
        while (i <= asked.size() && headers_ok) {
            std::size_t j = asked.find(',', i);
            if (j == std::string_view::npos) j = asked.size();
            std::string_view h = detail::cors_trim(asked.substr(i, j - i));
            if (!h.empty() && !any_header &&
                !detail::cors_list_has(policy.allowed_headers, h, true))
                headers_ok = false;
            i = j + 1;
        }
        if (!method_ok || !headers_ok) {
            d.kind = cors_kind::preflight_denied;
            return;
        }
        d.kind = cors_kind::preflight;
    } else {
        d.kind = cors_kind::allowed;
    }
    d.add("Access-Control-Allow-Origin", wildcard ? std::string_view("*") : o);
    if (policy.allow_credentials) d.add("Access-Control-Allow-Credentials", "true");
    if (preflight) {
        d.methods_ = detail::cors_join(policy.allowed_methods);
        d.add("Access-Control-Allow-Methods", d.methods_);
        std::string_view asked = detail::cors_trim(req.get("Access-Control-Request-Headers"));
        if (!asked.empty()) {
            // Echo what was asked (all of it passed the check above).
            d.headers_list_ = std::string(asked);
            d.add("Access-Control-Allow-Headers", d.headers_list_);
        }
        if (policy.max_age) {
            d.max_age_ = std::to_string(policy.max_age);
            d.add("Access-Control-Max-Age", d.max_age_);
        }
    } else if (!policy.exposed_headers.empty()) {
        d.exposed_ = detail::cors_join(policy.exposed_headers);
        d.add("Access-Control-Expose-Headers", d.exposed_);
    }
}

} // namespace http
} // namespace sluice
