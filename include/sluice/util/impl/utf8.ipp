// sluice — out-of-line bodies of sluice/util/utf8.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/util/utf8.hpp>

namespace sluice {
namespace util {

SLUICE_DECL bool is_valid_utf8(const void* data, std::size_t n) noexcept {
    utf8_validator v;
    return v.feed(data, n) && v.complete();
}
} // namespace util
} // namespace sluice
