// sluice.hpp first, then a plain <windows.h> (its min/max macros and all).
#include <sluice.hpp>
#include <windows.h>

#include "uses.hpp"

#if !defined(NOMINMAX)
static_assert(max(1, 2) == 2, "the user's min/max macros survive");
#endif
int main() { return use_sluice() + static_cast<int>(GetCurrentProcessId() == 0); }
