// sluice — out-of-line bodies of sluice/loop/signals.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/loop/signals.hpp>

#include <thread>

namespace sluice::detail::signals {

SLUICE_DECL registry& reg() {
    static registry r;
    return r;
}

SLUICE_DECL void deliver(int signo) noexcept {
    for (auto& s : slots) {
        if (!s.owned.load(std::memory_order_relaxed)) continue;
        // Announce the use before reading the pointer (both sequentially consistent, as
        // release_slot's clear and check): either release_slot sees this use and waits
        // for it, or this load already sees the pointer cleared.
        s.in_use.fetch_add(1, std::memory_order_seq_cst);
        const platform::wakeup_fd* w = s.wake.load(std::memory_order_seq_cst);
        if (w && (s.wanted.load(std::memory_order_relaxed) & bit(signo))) {
            s.pending.fetch_or(bit(signo), std::memory_order_release);
            w->notify();
        }
        s.in_use.fetch_sub(1, std::memory_order_release);
    }
}

SLUICE_DECL int acquire_slot(const platform::wakeup_fd* wake) noexcept {
    for (int i = 0; i < max_loops; ++i) {
        bool expected = false;
        if (slots[i].owned.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
            slots[i].wanted.store(0, std::memory_order_relaxed);
            slots[i].pending.store(0, std::memory_order_relaxed);
            slots[i].wake.store(wake, std::memory_order_seq_cst);
            return i;
        }
    }
    return -1;
}

SLUICE_DECL void release_slot(int i) noexcept {
    slot& s = slots[i];
    s.wanted.store(0, std::memory_order_relaxed);
    s.wake.store(nullptr, std::memory_order_seq_cst);
    // A delivery that read the old pointer is still notifying it. Handlers never block,
    // so this wait is short; the acquire pairs with their release of the count.
    while (s.in_use.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    // Only now: a late delivery could have set a bit for the next owner otherwise.
    s.pending.store(0, std::memory_order_relaxed);
    s.owned.store(false, std::memory_order_release);
}
} // namespace sluice::detail::signals

namespace sluice::detail::signals {

#if defined(SLUICE_POSIX)

SLUICE_DECL std::error_code install(int signo) {
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

SLUICE_DECL void uninstall(int signo) {
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (reg().users[signo] > 0 && --reg().users[signo] == 0)
        ::sigaction(signo, &reg().previous[signo], nullptr);
}
#endif
} // namespace sluice::detail::signals

namespace sluice::detail::signals {

#if defined(SLUICE_POSIX)
#elif defined(SLUICE_WINDOWS)

SLUICE_DECL BOOL WINAPI console_ctrl_handler(DWORD type) noexcept {
    if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT) return FALSE;
    deliver(SIGINT);
    return TRUE;
}

SLUICE_DECL std::error_code install(int signo) {
    if (signo != SIGINT) return std::make_error_code(std::errc::not_supported);
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (reg().users[signo]++ == 0 && !::SetConsoleCtrlHandler(&console_ctrl_handler, TRUE)) {
        --reg().users[signo];
        return platform::last_win32_error();
    }
    return {};
}

SLUICE_DECL void uninstall(int signo) {
    std::lock_guard<std::mutex> lock(reg().mutex);
    if (signo == SIGINT && reg().users[signo] > 0 && --reg().users[signo] == 0)
        ::SetConsoleCtrlHandler(&console_ctrl_handler, FALSE);
}
#endif
} // namespace sluice::detail::signals
