// sluice — the process-wide pool that runs blocking work (name resolution, file I/O,
// user jobs) so a loop thread never blocks. Threads start on first use; the size is
// SLUICE_THREADPOOL_SIZE from the environment, else 4 (libuv's default, enough for
// getaddrinfo bursts without oversubscribing small machines).
#pragma once

#include <sluice/util/function.hpp>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::detail {

class thread_pool {
  public:
    SLUICE_DECL static thread_pool& instance();

    SLUICE_DECL void submit(unique_function<void()> job);

    SLUICE_DECL std::size_t size() const;

    SLUICE_DECL ~thread_pool();

  private:
    thread_pool() = default;

    SLUICE_DECL void start_locked();

    SLUICE_DECL void work();

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<unique_function<void()>> jobs_;
    std::vector<std::thread> threads_;
    bool stopping_ = false;
};

} // namespace sluice::detail

#if SLUICE_COMPILE_BODIES
#include <sluice/loop/impl/thread_pool.ipp>
#endif
