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
#include <sluice/util/function.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <vector>

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

namespace sluice::detail {

// One loop's signal subscriptions: which numbers it wants, its slot in the process-wide
// table, and delivering what arrived. The loop owns one and calls run() when woken.
class loop_signals {
  public:
    loop_signals() = default;
    loop_signals(const loop_signals&) = delete;
    loop_signals& operator=(const loop_signals&) = delete;
    ~loop_signals() {
        if (slot_ < 0) return;
        for (auto& h : handlers_) signals::uninstall(h.signo);
        signals::release_slot(slot_);
    }

    std::error_code subscribe(int signo, unique_function<void(int)> handler,
                              const platform::wakeup_fd* wake) {
        if (slot_ < 0) {
            slot_ = signals::acquire_slot(wake);
            if (slot_ < 0) return std::make_error_code(std::errc::resource_unavailable_try_again);
        }
        if (entry* e = find(signo)) {
            e->fn = std::move(handler);
            return {};
        }
        if (auto ec = signals::install(signo)) return ec;
        handlers_.push_back({signo, std::move(handler)});
        signals::slots[slot_].wanted.fetch_or(signals::bit(signo));
        return {};
    }

    void cancel(int signo) {
        for (auto it = handlers_.begin(); it != handlers_.end(); ++it)
            if (it->signo == signo) {
                signals::slots[slot_].wanted.fetch_and(~signals::bit(signo));
                signals::uninstall(signo);
                handlers_.erase(it);
                return;
            }
    }

    // Calls the handler of every signal that arrived; returns how many ran.
    std::size_t run() {
        if (slot_ < 0) return 0;
        std::size_t ran = 0;
        std::uint64_t pending = signals::slots[slot_].pending.exchange(0);
        for (int signo = 1; pending && signo <= signals::max_signal; ++signo) {
            if (!(pending & signals::bit(signo))) continue;
            pending &= ~signals::bit(signo);
            entry* e = find(signo);
            if (!e || !e->fn) continue;
            // Called from here, not from the table: the handler may cancel() or replace its
            // own subscription without destroying itself while it runs. Afterwards it goes
            // back unless it was cancelled or replaced; then it is released here.
            unique_function<void(int)> fn = std::move(e->fn);
            ++ran;
            fn(signo);
            if (entry* again = find(signo))
                if (!again->fn) again->fn = std::move(fn);
        }
        return ran;
    }

  private:
    struct entry {
        int signo;
        unique_function<void(int)> fn;
    };
    entry* find(int signo) noexcept {
        for (auto& h : handlers_)
            if (h.signo == signo) return &h;
        return nullptr;
    }
    std::vector<entry> handlers_;
    int slot_ = -1;
};

} // namespace sluice::detail

#if SLUICE_COMPILE_BODIES
#include <sluice/loop/impl/signals.ipp>
#endif
