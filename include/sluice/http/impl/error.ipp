// sluice — out-of-line bodies of sluice/http/error.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/error.hpp>

namespace sluice {
namespace http {

SLUICE_DECL const std::error_category& http_category() noexcept {
    static const detail::http_category_impl cat;
    return cat;
}

SLUICE_DECL std::error_code make_error_code(error e) noexcept {
    return std::error_code(static_cast<int>(e), http_category());
}

SLUICE_DECL int suggested_status(error e) noexcept {
    switch (e) {
    case error::version_not_supported:
        return 505;
    case error::request_line_too_long:
        return 414;
    case error::head_too_large:
    case error::too_many_headers:
        return 431;
    case error::body_too_large:
        return 413;
    case error::unknown_transfer_coding:
        return 501;
    default:
        return 400;
    }
}

SLUICE_DECL int suggested_status(const std::error_code& ec) noexcept {
    if (!ec) return 200;
    if (ec.category() != http_category()) return 500;
    return suggested_status(static_cast<error>(ec.value()));
}
} // namespace http
} // namespace sluice
