// Separate compilation (bench/compile/run.sh): the one translation unit that compiles
// sluice's out-of-line bodies; hello_echo_sluice.cpp is then built with
// SLUICE_SEPARATE_COMPILATION and linked with this object.
#define SLUICE_IMPLEMENTATION
#include <sluice.hpp>
