# Builds and runs a tiny consumer project against sluice in one of four ways:
#   find_package   install sluice to a temporary prefix, then find_package(sluice CONFIG)
#   add_subdirectory / fetch_content   from the local source tree
#   pkg_config     install, then compile with `pkg-config --cflags sluice` and no CMake
# Invoked by ctest: cmake -DMODE=... -DSLUICE_SOURCE=... -DWORK=... -DCXX=... -P run.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(PROJECT_DIR "${CMAKE_CURRENT_LIST_DIR}/project")

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

if(MODE STREQUAL "find_package" OR MODE STREQUAL "pkg_config")
  run(${CMAKE_COMMAND} -S "${SLUICE_SOURCE}" -B "${WORK}/sluice-build" -DCMAKE_CXX_COMPILER=${CXX}
      -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_EXAMPLES=OFF -DSLUICE_INSTALL=ON)
  run(${CMAKE_COMMAND} --install "${WORK}/sluice-build" --prefix "${WORK}/prefix")
endif()

if(MODE STREQUAL "pkg_config")
  set(ENV{PKG_CONFIG_PATH} "${WORK}/prefix/share/pkgconfig")
  execute_process(COMMAND pkg-config --cflags --libs sluice OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not know sluice")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} -std=c++17 ${flags} "${PROJECT_DIR}/app.cpp" -o "${WORK}/app")
else()
  run(${CMAKE_COMMAND} -S "${PROJECT_DIR}" -B "${WORK}/app-build" -DCMAKE_CXX_COMPILER=${CXX}
      -DMODE=${MODE} -DSLUICE_SOURCE=${SLUICE_SOURCE} -DCMAKE_PREFIX_PATH=${WORK}/prefix)
  run(${CMAKE_COMMAND} --build "${WORK}/app-build")
  file(COPY "${WORK}/app-build/app" DESTINATION "${WORK}")
endif()
run("${WORK}/app")
