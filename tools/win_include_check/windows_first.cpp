// A plain <windows.h> first (without WIN32_LEAN_AND_MEAN it pulls in the old
// <winsock.h>), and <cstdlib> before sluice ever defined _CRT_RAND_S.
#include <cstdlib>
#include <windows.h>
#include <sluice.hpp>

#include "uses.hpp"

#if !defined(NOMINMAX)
static_assert(min(1, 2) == 1, "the user's min/max macros survive");
#endif
int main() { return use_sluice(); }
