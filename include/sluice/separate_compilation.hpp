// sluice — header-only (the default) or separate compilation, like asio's.
//
// Header-only: every function is inline and compiled in each translation unit that uses
// it. Separate compilation: every translation unit defines SLUICE_SEPARATE_COMPILATION,
// and exactly one of them also defines SLUICE_IMPLEMENTATION before including
// <sluice.hpp>. The heavy non-template functions (declared SLUICE_DECL, their bodies in
// the impl/*.ipp parts) are then compiled once, in that one, and the others see only
// their declarations: less to parse, instantiate and generate per translation unit.
// Class layouts are the same in both modes; templates and small inline functions stay
// in the headers.
#pragma once

#if defined(SLUICE_IMPLEMENTATION) && !defined(SLUICE_SEPARATE_COMPILATION)
#define SLUICE_SEPARATE_COMPILATION 1
#endif

// Written before a function compiled out of line in separate compilation.
#if defined(SLUICE_SEPARATE_COMPILATION)
#define SLUICE_DECL
#else
#define SLUICE_DECL inline
#endif

// 1 where the bodies of SLUICE_DECL functions are compiled.
#if !defined(SLUICE_SEPARATE_COMPILATION) || defined(SLUICE_IMPLEMENTATION)
#define SLUICE_COMPILE_BODIES 1
#else
#define SLUICE_COMPILE_BODIES 0
#endif
