// asio's separate compilation (bench/compile/run.sh), as its documentation describes:
// this unit, built with ASIO_SEPARATE_COMPILATION, compiles asio's out-of-line bodies;
// hello_echo_asio.cpp is then built with ASIO_SEPARATE_COMPILATION and linked with it.
#include <asio/impl/src.hpp>
