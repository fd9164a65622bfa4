// sluice — out-of-line bodies of sluice/http/cors.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/cors.hpp>

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL bool cors_list_has(const std::vector<std::string>& list, std::string_view v,
                               bool case_insensitive) {
    for (const std::string& s : list)
        if (case_insensitive ? iequals(s, v) : s == v) return true;
    return false;
}

SLUICE_DECL std::string cors_join(const std::vector<std::string>& list) {
    std::string out;
    for (const std::string& s : list) {
        if (!out.empty()) out += ", ";
        out += s;
    }
    return out;
}

SLUICE_DECL std::string_view cors_trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
} // namespace detail
} // namespace http
} // namespace sluice

namespace sluice {
namespace http {

SLUICE_DECL void cors_decision::evaluate(const cors_policy& policy, const message& req) {
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
