// The one translation unit of the program that compiles sluice's out-of-line bodies.
#define SLUICE_IMPLEMENTATION
// The bodies of the opt-in permessage-deflate too (deflate.cpp uses it): the unit that
// compiles the bodies must see every part any unit uses.
#define SLUICE_WITH_ZLIB 1
#include <sluice.hpp>
