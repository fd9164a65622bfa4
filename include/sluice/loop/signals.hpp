// sluice — delivering signals to loops. The process-wide handler only does
// async-signal-safe things: it sets a bit in each subscribed loop's pending mask and
// pokes that loop's wakeup descriptor. The loop then runs the user's handler as an
// ordinary callback on its own thread, where anything is allowed.
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

namespace sluice::detail::signals {

inline constexpr int max_loops = 64;
inline constexpr int max_signal = 64;

struct slot {
    std::atomic<const platform::wakeup_fd*> wake{nullptr};
    std::atomic<std::uint64_t> wanted{0};
    std::atomic<std::uint64_t> pending{0};
};

inline slot slots[max_loops];

struct registry {
    std::mutex mutex;
    int users[max_signal + 1] = {};
#if defined(SLUICE_POSIX)
    struct sigaction previous[max_signal + 1];
#endif
};
inline registry& reg() {
    static registry r;
    return r;
}

inline std::uint64_t bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

inline void deliver(int signo) noexcept {
    for (auto& s : slots) {
        const platform::wakeup_fd* w = s.wake.load(std::memory_order_acquire);
        if (w && (s.wanted.load(std::memory_order_relaxed) & bit(signo))) {
            s.pending.fetch_or(bit(signo), std::memory_order_release);
            w->notify();
        }
    }
}

inline int acquire_slot(const platform::wakeup_fd* wake) noexcept {
    for (int i = 0; i < max_loops; ++i) {
        const platform::wakeup_fd* expected = nullptr;
        if (slots[i].wake.compare_exchange_strong(expected, wake)) return i;
    }
    return -1;
}

inline void release_slot(int i) noexcept {
    slots[i].wanted.store(0);
    slots[i].pending.store(0);
    slots[i].wake.store(nullptr, std::memory_order_release);
}

#if defined(SLUICE_POSIX)

extern "C" inline void sluice_signal_handler(int signo) { deliver(signo); }

inline std::error_code install(int signo) {
    if (signo < 1 || signo > max_signal) return std::make_error_code(std::errc::invalid_argument);
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (reg().users[signo]++ == 0) {
        struct sigaction sa {};
        sa.sa_handler = &sluice_signal_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (::sigaction(signo, &sa, &reg().previous[signo]) != 0) {
            --reg().users[signo];
            return platform::last_error();
        }
    }
    return {};
}

inline void uninstall(int signo) {
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (reg().users[signo] > 0 && --reg().users[signo] == 0)
        ::sigaction(signo, &reg().previous[signo], nullptr);
}

#elif defined(SLUICE_WINDOWS)

// Returning TRUE keeps the default action (ending the process) from running; the
// handler is only installed while some loop asked for SIGINT.
inline BOOL WINAPI console_ctrl_handler(DWORD type) noexcept {
    if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT) return FALSE;
    deliver(SIGINT);
    return TRUE;
}

inline std::error_code install(int signo) {
    if (signo != SIGINT) return std::make_error_code(std::errc::not_supported);
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (reg().users[signo]++ == 0 && !::SetConsoleCtrlHandler(&console_ctrl_handler, TRUE)) {
        --reg().users[signo];
        return platform::last_win32_error();
    }
    return {};
}

inline void uninstall(int signo) {
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (signo == SIGINT && reg().users[signo] > 0 && --reg().users[signo] == 0)
        ::SetConsoleCtrlHandler(&console_ctrl_handler, FALSE);
}

#endif

} // namespace sluice::detail::signals
