# Cross-compiles for another Linux architecture with Debian's cross compilers and runs
# the test programs under qemu-user, e.g. for 64-bit ARM:
#
#   cmake -S . -B build/cross-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-linux-cross.cmake \
#         -DSLUICE_CROSS_TRIPLE=aarch64-linux-gnu
#   cmake --build build/cross-aarch64 && (cd build/cross-aarch64 && ctest -R 'test_http$')
#
# SLUICE_CROSS_TRIPLE is the Debian triple: aarch64-linux-gnu, arm-linux-gnueabihf,
# s390x-linux-gnu, ... (Debian package g++-<triple>; tools/test-cross.sh installs
# the three it tests, and qemu-user). The programs link dynamically against the target's
# glibc in /usr/<triple>, which qemu is pointed at with -L: no binfmt_misc setup needed.
set(SLUICE_CROSS_TRIPLE "" CACHE STRING "Debian target triple, e.g. aarch64-linux-gnu")
# try_compile projects read this file again: hand them the triple as well.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SLUICE_CROSS_TRIPLE)
if(NOT SLUICE_CROSS_TRIPLE)
  message(FATAL_ERROR "set -DSLUICE_CROSS_TRIPLE=<triple>, e.g. aarch64-linux-gnu")
endif()

string(REGEX MATCH "^[^-]+" _sluice_cpu "${SLUICE_CROSS_TRIPLE}")
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${_sluice_cpu})
set(CMAKE_C_COMPILER ${SLUICE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SLUICE_CROSS_TRIPLE}-g++)

# Headers and libraries come from the target's sysroot only; programs are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/${SLUICE_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# qemu's name for the CPU: aarch64, arm (armhf and armel), s390x, ppc64le, riscv64, ...
if(_sluice_cpu MATCHES "^arm")
  set(_sluice_qemu qemu-arm)
elseif(_sluice_cpu STREQUAL "powerpc64le")
  set(_sluice_qemu qemu-ppc64le)
else()
  set(_sluice_qemu qemu-${_sluice_cpu})
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${_sluice_qemu} -L /usr/${SLUICE_CROSS_TRIPLE})
