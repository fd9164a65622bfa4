// sluice — out-of-line bodies of sluice/ws/error.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/error.hpp>

namespace sluice {
namespace ws {

SLUICE_DECL const std::error_category& ws_category() noexcept {
    static const detail::ws_category_impl cat;
    return cat;
}

SLUICE_DECL std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), ws_category()};
}
} // namespace ws
} // namespace sluice
