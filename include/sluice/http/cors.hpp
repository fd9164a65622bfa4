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
    SLUICE_DECL void evaluate(const cors_policy& policy, const message& req);
    void add(std::string_view n, std::string_view v) noexcept {
        if (count < 8) headers[count++] = header{n, v};
    }
    std::string methods_, headers_list_, exposed_, max_age_;
};

namespace detail {
SLUICE_DECL bool cors_list_has(const std::vector<std::string>& list, std::string_view v,
                          bool case_insensitive);
SLUICE_DECL std::string cors_join(const std::vector<std::string>& list);
SLUICE_DECL std::string_view cors_trim(std::string_view s) noexcept;
} // namespace detail


} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/cors.ipp>
#endif
