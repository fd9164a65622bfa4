# Checks that discarding each awaitable fails to compile under -Werror (see discard.cpp).
#   cmake -DCXX=<compiler> -DCXX_ID=<GNU|Clang|...> -DINCLUDE=<header dir> -DSOURCE=<discard.cpp>
#         -P check.cmake
# 1. The control compile (-DSLUICE_KEEP_ALL: every case cast to void) must succeed.
# 2. The compile with the discards must fail, with a -Wunused-result error on every line
#    that starts with KEEP: one case that compiled silently fails the test, naming it.
foreach(_v CXX CXX_ID INCLUDE SOURCE)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "check.cmake: -D${_v}=... is required")
  endif()
endforeach()

set(_flags -std=c++20 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I${INCLUDE})
# Every error reported, not the first 20 (clang's default limit).
if(CXX_ID MATCHES "Clang")
  list(APPEND _flags -ferror-limit=0)
else()
  list(APPEND _flags -fmax-errors=0)
endif()

execute_process(COMMAND ${CXX} ${_flags} -DSLUICE_KEEP_ALL ${SOURCE}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "the control compile (every awaitable kept) failed:\n${_out}")
endif()

execute_process(COMMAND ${CXX} ${_flags} ${SOURCE}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(_rc EQUAL 0)
  message(FATAL_ERROR "discarding awaitables compiled without an error")
endif()

get_filename_component(_name "${SOURCE}" NAME)
string(REPLACE "." "\\." _name_re "${_name}")
# Walk the source line by line (not as a CMake list: the C++ has semicolons and brackets).
file(READ "${SOURCE}" _rest)
set(_n 0)
set(_cases 0)
set(_silent "")
while(NOT _rest STREQUAL "")
  math(EXPR _n "${_n} + 1")
  string(FIND "${_rest}" "\n" _eol)
  if(_eol EQUAL -1)
    set(_line "${_rest}")
    set(_rest "")
  else()
    string(SUBSTRING "${_rest}" 0 ${_eol} _line)
    math(EXPR _eol "${_eol} + 1")
    string(SUBSTRING "${_rest}" ${_eol} -1 _rest)
  endif()
  if(_line MATCHES "^[ \t]*KEEP ")
    math(EXPR _cases "${_cases} + 1")
    if(NOT _out MATCHES "${_name_re}:${_n}:[0-9]+: error: [^\n]*unused-result")
      string(STRIP "${_line}" _case)
      string(APPEND _silent "  line ${_n}: ${_case}\n")
    endif()
  endif()
endwhile()
if(_cases EQUAL 0)
  message(FATAL_ERROR "no KEEP lines found in ${SOURCE}")
endif()
if(_silent)
  message(FATAL_ERROR "discarded without an unused-result error:\n${_silent}\ncompiler output:\n${_out}")
endif()
message(STATUS "${_cases} discarded awaitables, each rejected")
