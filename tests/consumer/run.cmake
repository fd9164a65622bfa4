# Builds and runs a tiny consumer project against sluice, one way per MODE:
#   find_package        install sluice to a temporary prefix, then find_package(sluice CONFIG)
#   add_subdirectory / fetch_content   from the local source tree
#   pkg_config          install, then compile with `pkg-config --cflags sluice` and link with
#                       `pkg-config --libs sluice`, no CMake
#   vcpkg_usage         install, lay the prefix out as ports/sluice/portfile.cmake leaves it,
#                       build a project made of the snippet in ports/sluice/usage
#   conan_test_package  install, build test_package/ (the Conan recipe's test) with plain CMake
#   release_tarball     tools/release.sh, then FetchContent from the tarball's file:// URL
# Invoked by ctest: cmake -DMODE=... -DSLUICE_SOURCE=... -DWORK=... -DCXX=... -P run.cmake
cmake_minimum_required(VERSION 3.14) # script mode: IN_LIST, FetchContent-era policies
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(PROJECT_DIR "${CMAKE_CURRENT_LIST_DIR}/project")

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# The program prints the version it was compiled against: the one this checkout declares.
file(STRINGS "${SLUICE_SOURCE}/include/sluice/version.hpp" _version_line REGEX "^#define SLUICE_VERSION_STRING ")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" SLUICE_VERSION "${_version_line}")

function(run_and_expect program expected)
  run("${program}")
  string(FIND "${run_output}" "${expected}" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "${program} printed\n${run_output}\nwhich lacks \"${expected}\"")
  endif()
endfunction()

function(build_project source_dir)
  run(${CMAKE_COMMAND} -S "${source_dir}" -B "${WORK}/app-build" -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_PREFIX_PATH=${WORK}/prefix ${ARGN})
  run(${CMAKE_COMMAND} --build "${WORK}/app-build")
endfunction()

# find_package took the package from where this test put it, not from the system.
function(expect_found_in dir)
  file(STRINGS "${WORK}/app-build/CMakeCache.txt" _found REGEX "^sluice_DIR:")
  string(REGEX REPLACE "^sluice_DIR:[A-Z]+=" "" _found "${_found}")
  if(NOT _found STREQUAL dir)
    message(FATAL_ERROR "find_package(sluice) used ${_found}, not ${dir}")
  endif()
endfunction()

set(_installs find_package pkg_config vcpkg_usage conan_test_package)
if(MODE IN_LIST _installs)
  run(${CMAKE_COMMAND} -S "${SLUICE_SOURCE}" -B "${WORK}/sluice-build" -DCMAKE_CXX_COMPILER=${CXX}
      -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_EXAMPLES=OFF -DSLUICE_INSTALL=ON)
  run(${CMAKE_COMMAND} --install "${WORK}/sluice-build" --prefix "${WORK}/prefix")
endif()

if(MODE STREQUAL "pkg_config")
  # Only this prefix's .pc files: no sluice.pc from the system can stand in.
  set(ENV{PKG_CONFIG_LIBDIR} "${WORK}/prefix/share/pkgconfig")
  unset(ENV{PKG_CONFIG_PATH})
  foreach(_what cflags libs modversion)
    execute_process(COMMAND pkg-config --${_what} sluice OUTPUT_VARIABLE _${_what} RESULT_VARIABLE rc
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "pkg-config --${_what} sluice failed")
    endif()
    message(STATUS "pkg-config --${_what} sluice: ${_${_what}}")
  endforeach()
  if(NOT _modversion STREQUAL SLUICE_VERSION)
    message(FATAL_ERROR "pkg-config says sluice ${_modversion}, version.hpp says ${SLUICE_VERSION}")
  endif()
  # Compile with --cflags alone and link with --libs alone: each half must carry its share.
  separate_arguments(_cflags UNIX_COMMAND "${_cflags}")
  separate_arguments(_libs UNIX_COMMAND "${_libs}")
  run(${CXX} -std=c++17 ${_cflags} -c "${PROJECT_DIR}/app.cpp" -o "${WORK}/app.o")
  run(${CXX} "${WORK}/app.o" ${_libs} -o "${WORK}/app")
  run_and_expect("${WORK}/app" "sluice ${SLUICE_VERSION}: echoed")

elseif(MODE STREQUAL "vcpkg_usage")
  # vcpkg is not installed here; this emulates, for this package, what the portfile's
  # vcpkg_cmake_config_fixup(CONFIG_PATH ...) does (vcpkg's documented steps): move the
  # config files from CONFIG_PATH to share/<port>, delete the parent folder named
  # "cmake", and make the files find the prefix two levels up instead of three.
  file(READ "${SLUICE_SOURCE}/ports/sluice/portfile.cmake" _portfile)
  if(NOT _portfile MATCHES "vcpkg_cmake_config_fixup\\(CONFIG_PATH ([^ )]+)\\)")
    message(FATAL_ERROR "portfile.cmake has no vcpkg_cmake_config_fixup(CONFIG_PATH ...)")
  endif()
  set(_config_path "${CMAKE_MATCH_1}")
  set(_from "${WORK}/prefix/${_config_path}")
  set(_to "${WORK}/prefix/share/sluice")
  if(NOT EXISTS "${_from}/sluiceConfig.cmake")
    message(FATAL_ERROR "the portfile's CONFIG_PATH ${_config_path} holds no sluiceConfig.cmake after install")
  endif()
  file(GLOB _config_files "${_from}/*")
  file(COPY ${_config_files} DESTINATION "${_to}")
  file(REMOVE_RECURSE "${_from}")
  get_filename_component(_parent "${_from}" DIRECTORY)
  get_filename_component(_parent_name "${_parent}" NAME)
  if(_parent_name STREQUAL "cmake")
    file(REMOVE_RECURSE "${_parent}")
  endif()
  file(GLOB _moved "${_to}/*.cmake")
  foreach(_f ${_moved})
    file(READ "${_f}" _text)
    # Targets file: the chain of PATH steps up from the file becomes exactly two.
    set(_up "get_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)")
    string(REGEX REPLACE "(get_filename_component\\(_IMPORT_PREFIX \"\\\${CMAKE_CURRENT_LIST_FILE}\" PATH\\))(\nget_filename_component\\(_IMPORT_PREFIX \"\\\${_IMPORT_PREFIX}\" PATH\\))*"
           "\\1\n${_up}\n${_up}" _text "${_text}")
    # Config file (configure_package_config_file): PACKAGE_PREFIX_DIR is ../../ away.
    string(REGEX REPLACE "get_filename_component\\(PACKAGE_PREFIX_DIR \"\\\${CMAKE_CURRENT_LIST_DIR}/\\.\\./(\\.\\./)*\" ABSOLUTE\\)"
           "get_filename_component(PACKAGE_PREFIX_DIR \"\${CMAKE_CURRENT_LIST_DIR}/../../\" ABSOLUTE)" _text "${_text}")
    file(WRITE "${_f}" "${_text}")
  endforeach()
  # The portfile's other steps for this package: share/doc goes, the license becomes copyright.
  file(REMOVE_RECURSE "${WORK}/prefix/share/doc")
  if(EXISTS "${WORK}/prefix/share/cmake" OR NOT EXISTS "${_to}/sluiceTargets.cmake")
    message(FATAL_ERROR "prefix not laid out like vcpkg's share/sluice")
  endif()

  # The consumer is the usage file's indented CMake lines, taken as they are.
  file(STRINGS "${SLUICE_SOURCE}/ports/sluice/usage" _usage)
  set(_snippet "")
  foreach(_line IN LISTS _usage)
    if(_line MATCHES "^  +(.+)$")
      string(APPEND _snippet "${CMAKE_MATCH_1}\n")
    endif()
  endforeach()
  if(NOT _snippet MATCHES "find_package\\(sluice" OR NOT _snippet MATCHES "target_link_libraries\\(main")
    message(FATAL_ERROR "ports/sluice/usage lost its find_package/target_link_libraries(main ...) snippet:\n${_snippet}")
  endif()
  message(STATUS "snippet from ports/sluice/usage:\n${_snippet}")
  file(MAKE_DIRECTORY "${WORK}/usage")
  file(WRITE "${WORK}/usage/CMakeLists.txt"
       "cmake_minimum_required(VERSION 3.14)\nproject(vcpkg_usage LANGUAGES CXX)\n"
       "add_executable(main \"${PROJECT_DIR}/app.cpp\")\n${_snippet}")
  build_project("${WORK}/usage")
  expect_found_in("${_to}")
  run_and_expect("${WORK}/app-build/main" "sluice ${SLUICE_VERSION}: echoed")

elseif(MODE STREQUAL "conan_test_package")
  # CMakeDeps would hand test_package/CMakeLists.txt the same find_package(sluice) and
  # sluice::sluice target; here the installed package config provides them.
  build_project("${SLUICE_SOURCE}/test_package")
  expect_found_in("${WORK}/prefix/share/cmake/sluice")
  run_and_expect("${WORK}/app-build/test_package" "sluice ${SLUICE_VERSION} (")

elseif(MODE STREQUAL "release_tarball")
  set(ENV{SOURCE_DATE_EPOCH} 1700000000)
  run(bash "${SLUICE_SOURCE}/tools/release.sh" "${WORK}/out-a")
  run(bash "${SLUICE_SOURCE}/tools/release.sh" "${WORK}/out-b")
  set(_tarball "${WORK}/out-a/sluice-${SLUICE_VERSION}.tar.gz")
  file(SHA256 "${_tarball}" _sha)
  file(SHA256 "${WORK}/out-b/sluice-${SLUICE_VERSION}.tar.gz" _sha_again)
  if(NOT _sha STREQUAL _sha_again)
    message(FATAL_ERROR "two runs of release.sh gave different tarballs (${_sha} vs ${_sha_again})")
  endif()
  if(NOT run_output MATCHES "${_sha}")
    message(FATAL_ERROR "release.sh did not print the tarball's SHA-256 ${_sha}:\n${run_output}")
  endif()

  run(tar -tzvf "${_tarball}")
  message(STATUS "tarball ${_tarball}\nSHA256=${_sha}")
  string(REPLACE "\n" ";" _entries "${run_output}")
  set(_names "")
  foreach(_e IN LISTS _entries)
    if(_e STREQUAL "")
      continue()
    endif()
    if(NOT _e MATCHES "^[-d]rw.r..r.. 0/0 ")
      message(FATAL_ERROR "entry not owned by 0/0 with fixed permissions: ${_e}")
    endif()
    if(NOT _e MATCHES " 2023-11-1[45] ")
      message(FATAL_ERROR "entry mtime is not SOURCE_DATE_EPOCH: ${_e}")
    endif()
    string(REGEX REPLACE "^.* (sluice-[^ ]+)$" "\\1" _n "${_e}")
    list(APPEND _names "${_n}")
  endforeach()
  set(_top "sluice-${SLUICE_VERSION}")
  foreach(_n IN LISTS _names)
    if(NOT _n MATCHES "^${_top}/")
      message(FATAL_ERROR "entry outside ${_top}/: ${_n}")
    endif()
    if(_n MATCHES "^${_top}/(tests|bench|examples|tools|fuzz|docs|ports|test_package)/")
      message(FATAL_ERROR "the tarball must not ship ${_n}")
    endif()
  endforeach()
  foreach(_need CMakeLists.txt LICENSE README.md CHANGELOG.md single_include/sluice.hpp include/sluice.hpp
                include/sluice/version.hpp cmake/sluiceConfig.cmake.in cmake/sluice.pc.in)
    if(NOT "${_top}/${_need}" IN_LIST _names)
      message(FATAL_ERROR "the tarball lacks ${_need}")
    endif()
  endforeach()
  # Every header of include/ is in it (the multi-header build of add_subdirectory users),
  # and every part with out-of-line bodies (impl/*.ipp) that those headers include.
  file(GLOB_RECURSE _headers RELATIVE "${SLUICE_SOURCE}" "${SLUICE_SOURCE}/include/*.hpp"
       "${SLUICE_SOURCE}/include/*.ipp")
  foreach(_h IN LISTS _headers)
    if(NOT "${_top}/${_h}" IN_LIST _names)
      message(FATAL_ERROR "the tarball lacks ${_h}")
    endif()
  endforeach()

  # The extracted tree configures and installs as a top-level project, with tests/ and
  # examples/ (on by default there) simply absent.
  file(ARCHIVE_EXTRACT INPUT "${_tarball}" DESTINATION "${WORK}/extracted")
  run(${CMAKE_COMMAND} -S "${WORK}/extracted/${_top}" -B "${WORK}/extracted-build" -DCMAKE_CXX_COMPILER=${CXX})
  run(${CMAKE_COMMAND} --install "${WORK}/extracted-build" --prefix "${WORK}/extracted-prefix")
  if(NOT EXISTS "${WORK}/extracted-prefix/include/sluice.hpp")
    message(FATAL_ERROR "installing the extracted tarball gave no include/sluice.hpp")
  endif()

  # What a user writes: FetchContent from the URL, pinned by its hash.
  file(MAKE_DIRECTORY "${WORK}/fetch")
  file(WRITE "${WORK}/fetch/CMakeLists.txt"
       "cmake_minimum_required(VERSION 3.14)\nproject(tarball_consumer LANGUAGES CXX)\n"
       "include(FetchContent)\n"
       "FetchContent_Declare(sluice URL \"file://${_tarball}\" URL_HASH SHA256=${_sha})\n"
       "FetchContent_MakeAvailable(sluice)\n"
       "if(TARGET test_loop OR TARGET echo_server)\n"
       "  message(FATAL_ERROR \"a FetchContent user got sluice's tests or examples\")\n"
       "endif()\n"
       "add_executable(app \"${PROJECT_DIR}/app.cpp\")\n"
       "target_link_libraries(app PRIVATE sluice::sluice)\n")
  build_project("${WORK}/fetch")
  run_and_expect("${WORK}/app-build/app" "sluice ${SLUICE_VERSION}: echoed")

else()
  run(${CMAKE_COMMAND} -S "${PROJECT_DIR}" -B "${WORK}/app-build" -DCMAKE_CXX_COMPILER=${CXX}
      -DMODE=${MODE} -DSLUICE_SOURCE=${SLUICE_SOURCE} -DCMAKE_PREFIX_PATH=${WORK}/prefix)
  run(${CMAKE_COMMAND} --build "${WORK}/app-build")
  file(COPY "${WORK}/app-build/app" DESTINATION "${WORK}")
  run("${WORK}/app")
endif()
