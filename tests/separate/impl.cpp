// The one translation unit of the program that compiles sluice's out-of-line bodies.
#define SLUICE_IMPLEMENTATION
#include <sluice.hpp>
