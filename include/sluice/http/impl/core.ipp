// sluice — out-of-line bodies of sluice/http/core.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/core.hpp>

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL const std::string* server_core::ok_head() {
    std::string_view date = dates_.now();
    if (dates_.formats() != ok_head_date_) {
        ok_head_date_ = dates_.formats();
        ok_head_.clear();
        serializer<std::string> sr(ok_head_);
        sr.status_line(200);
        if (!settings_.server_name.empty()) sr.header("Server", settings_.server_name);
        sr.header("Date", date);
        ok_head_valid_ = !sr.error();
    }
    return ok_head_valid_ ? &ok_head_ : nullptr;
}

SLUICE_DECL std::vector<header> server_core::take_headers() {
    std::vector<header> h = headers_spare_.take();
    h.resize(max_headers_);
    return h;
}
} // namespace detail
} // namespace http
} // namespace sluice
