// sluice — out-of-line bodies of sluice/platform/error.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/platform/error.hpp>

namespace sluice {

SLUICE_DECL const std::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}

SLUICE_DECL std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}
} // namespace sluice
