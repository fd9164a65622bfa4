// sluice — delivering signals to loops. The process-wide handler only does
// async-signal-safe things: it sets a bit in each subscribed loop's pending mask and
// pokes that loop's wakeup descriptor. The loop then runs the user's handler as an
// ordinary callback on its own thread, where anything is allowed.
//
// A loop may be destroyed while the handler runs on another thread. Each slot counts the
// deliveries using it (lock-free atomics only, so the handler stays async-signal-safe and
// never waits); a loop giving its slot back clears the slot's pointer and then waits for
// that count to drop, so no delivery touches its wakeup descriptor once ~loop goes on.
//
// Windows has no POSIX signals. What a console program gets instead is Ctrl-C and
// Ctrl-Break, delivered by SetConsoleCtrlHandler on a thread of their own: both arrive
// as SIGINT. Every other signal number is refused with std::errc::not_supported.
#pragma once

#include <sluice/platform/socket.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <thread>

namespace sluice::detail::signals {

inline constexpr int max_loops = 64;
inline constexpr int max_signal = 64;

struct slot {
    std::atomic<bool> owned{false}; // taken by a loop (acquire_slot .. release_slot)
    std::atomic<const platform::wakeup_fd*> wake{nullptr};
    std::atomic<std::uint64_t> wanted{0};
    std::atomic<std::uint64_t> pending{0};
    std::atomic<std::uint32_t> in_use{0}; // deliveries between reading `wake` and done with it
};
// What the handler touches must be lock-free to be async-signal-safe.
static_assert(std::atomic<bool>::is_always_lock_free, "signal slots need lock-free atomics");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "signal slots need lock-free atomics");
static_assert(std::atomic<const platform::wakeup_fd*>::is_always_lock_free,
              "signal slots need lock-free atomics");

inline slot slots[max_loops];

struct registry {
    std::mutex mutex;
    int users[max_signal + 1] = {};
#if defined(SLUICE_POSIX)
    struct sigaction previous[max_signal + 1];
#endif
};
SLUICE_DECL registry& reg();

inline std::uint64_t bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

SLUICE_DECL void deliver(int signo) noexcept;

SLUICE_DECL int acquire_slot(const platform::wakeup_fd* wake) noexcept;

// After this returns no delivery uses the slot's wakeup descriptor: the loop may close it.
SLUICE_DECL void release_slot(int i) noexcept;

#if defined(SLUICE_POSIX)

// deliver() touches only lock-free atomics and write(2), which preserves errno.
extern "C" inline void sluice_signal_handler(int signo) { deliver(signo); }

SLUICE_DECL std::error_code install(int signo);

SLUICE_DECL void uninstall(int signo);

#elif defined(SLUICE_WINDOWS)

// Returning TRUE keeps the default action (ending the process) from running; the
// handler is only installed while some loop asked for SIGINT.
SLUICE_DECL BOOL WINAPI console_ctrl_handler(DWORD type) noexcept;

SLUICE_DECL std::error_code install(int signo);

SLUICE_DECL void uninstall(int signo);

#endif

} // namespace sluice::detail::signals

#if SLUICE_COMPILE_BODIES
#include <sluice/loop/impl/signals.ipp>
#endif
