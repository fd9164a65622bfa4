// sluice — configuration macros.
//
// One grammar for every optional feature X:
//   SLUICE_HAS_X      detected here; a user may pre-define it to 1 to force X on
//                     (e.g. SLUICE_HAS_KQUEUE with a kqueue emulation library on Linux)
//   SLUICE_DISABLE_X  defined by the user to opt out of X even when it is available
// Nothing here includes an OS header; platform/ does that.
#pragma once

#include <sluice/separate_compilation.hpp>
#include <sluice/version.hpp>

#if defined(_WIN32)
#define SLUICE_WINDOWS 1
// ws/random.hpp needs rand_s, which <stdlib.h> declares only when _CRT_RAND_S is
// defined before its first inclusion. When it was included earlier without it, that
// header declares rand_s itself (SLUICE_DECLARE_RAND_S).
#if !defined(_CRT_RAND_S)
#if defined(_INC_STDLIB)
#define SLUICE_DECLARE_RAND_S 1
#endif
#define _CRT_RAND_S
#endif
#else
#define SLUICE_POSIX 1
#endif

// epoll: Linux.
#if !defined(SLUICE_HAS_EPOLL)
#if defined(__linux__) && !defined(SLUICE_DISABLE_EPOLL)
#define SLUICE_HAS_EPOLL 1
#else
#define SLUICE_HAS_EPOLL 0
#endif
#endif

// io_uring: Linux, written against the kernel interface (<linux/io_uring.h> and the raw
// syscalls), so it needs no library. Compiled in wherever the kernel headers are new
// enough to describe it (5.11: timeouts passed to io_uring_enter); whether the running
// kernel allows it is found out at run time (backend/io_uring.hpp).
#if !defined(SLUICE_HAS_IO_URING)
#if defined(__linux__) && !defined(SLUICE_DISABLE_IO_URING) && defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#define SLUICE_HAS_IO_URING 1
#else
#define SLUICE_HAS_IO_URING 0
#endif
#else
#define SLUICE_HAS_IO_URING 0
#endif
#endif

// kqueue: macOS and the BSDs.
#if !defined(SLUICE_HAS_KQUEUE)
#if (defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) ||  \
     defined(__DragonFly__)) &&                                                                    \
    !defined(SLUICE_DISABLE_KQUEUE)
#define SLUICE_HAS_KQUEUE 1
#else
#define SLUICE_HAS_KQUEUE 0
#endif
#endif

// poll (WSAPoll on Windows) and select: everywhere unless opted out.
#if !defined(SLUICE_HAS_POLL)
#if !defined(SLUICE_DISABLE_POLL)
#define SLUICE_HAS_POLL 1
#else
#define SLUICE_HAS_POLL 0
#endif
#endif

#if !defined(SLUICE_HAS_SELECT)
#if !defined(SLUICE_DISABLE_SELECT)
#define SLUICE_HAS_SELECT 1
#else
#define SLUICE_HAS_SELECT 0
#endif
#endif

// Unix domain sockets: POSIX only for now.
#if !defined(SLUICE_HAS_UNIX_SOCKETS)
#if defined(SLUICE_POSIX) && !defined(SLUICE_DISABLE_UNIX_SOCKETS)
#define SLUICE_HAS_UNIX_SOCKETS 1
#else
#define SLUICE_HAS_UNIX_SOCKETS 0
#endif
#endif

// C++20 coroutines: present when the compiler implements them.
#if !defined(SLUICE_HAS_COROUTINES)
#if defined(__cpp_impl_coroutine) && __cpp_impl_coroutine >= 201902L &&                            \
    !defined(SLUICE_DISABLE_COROUTINES)
#define SLUICE_HAS_COROUTINES 1
#else
#define SLUICE_HAS_COROUTINES 0
#endif
#endif

// Exceptions: the library never throws; this only decides whether user code that
// throws from a callback can be caught at the boundary.
#if !defined(SLUICE_HAS_EXCEPTIONS)
#if (defined(__cpp_exceptions) || defined(__EXCEPTIONS)) && !defined(SLUICE_DISABLE_EXCEPTIONS)
#define SLUICE_HAS_EXCEPTIONS 1
#else
#define SLUICE_HAS_EXCEPTIONS 0
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_LIKELY(x) __builtin_expect(!!(x), 1)
#define SLUICE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SLUICE_LIKELY(x) (x)
#define SLUICE_UNLIKELY(x) (x)
#endif
