# Cross-compiles for 64-bit Windows with Debian's mingw-w64 (the posix-threads flavour)
# and runs the test programs under wine64:
#
#   cmake -S . -B build/mingw -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw-w64.cmake
#   cmake --build build/mingw && (cd build/mingw && ctest)
#
# Needs g++-mingw-w64-x86-64-posix and wine64; tools/test-windows.sh installs them and
# runs the whole suite this way.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_sluice_mingw x86_64-w64-mingw32)
# The -posix compilers: std::thread, std::mutex and std::condition_variable over
# winpthreads (GCC 12's -win32 flavour has none of them).
set(CMAKE_C_COMPILER ${_sluice_mingw}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_sluice_mingw}-g++-posix)
set(CMAKE_RC_COMPILER ${_sluice_mingw}-windres)

# Headers, libraries and packages come from the mingw sysroot only, never from the
# host's /usr/include or /usr/lib; programs (python3, bash) are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/${_sluice_mingw})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static runtime: each .exe runs without libstdc++, libgcc or libwinpthread DLLs beside it.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")

# Winsock for every program (the sluice target links ws2_32 as well, for other
# toolchains); the rest is CMake's usual list for this platform.
set(_sluice_win_libs
    "-lws2_32 -lkernel32 -luser32 -lgdi32 -lwinspool -lshell32 -lole32 -loleaut32 -luuid -lcomdlg32 -ladvapi32")
set(CMAKE_C_STANDARD_LIBRARIES "${_sluice_win_libs}" CACHE STRING "Libraries linked into every C program")
set(CMAKE_CXX_STANDARD_LIBRARIES "${_sluice_win_libs}" CACHE STRING "Libraries linked into every C++ program")

# ctest (and try_run) start each .exe through tools/wine-run.sh: wine64 with its own
# prefix in the build folder, created on first use, and no wine debug output.
get_filename_component(_sluice_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(SLUICE_WINEPREFIX "${CMAKE_BINARY_DIR}/wineprefix" CACHE PATH "Wine prefix the test programs run in")
set(CMAKE_CROSSCOMPILING_EMULATOR bash "${_sluice_root}/tools/wine-run.sh" --prefix "${SLUICE_WINEPREFIX}")
