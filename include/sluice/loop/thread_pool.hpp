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
    static thread_pool& instance() {
        static thread_pool pool;
        return pool;
    }

    void submit(unique_function<void()> job) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (threads_.empty()) start_locked();
        jobs_.push_back(std::move(job));
        lock.unlock();
        cv_.notify_one();
    }

    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return threads_.size();
    }

    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) t.join();
    }

  private:
    thread_pool() = default;

    void start_locked() {
        std::size_t n = 4;
        if (const char* env = std::getenv("SLUICE_THREADPOOL_SIZE")) {
            long v = std::strtol(env, nullptr, 10);
            if (v >= 1 && v <= 256) n = static_cast<std::size_t>(v);
        }
        for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
    }

    void work() {
        for (;;) {
            unique_function<void()> job;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
                if (jobs_.empty()) return;
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job();
        }
    }

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<unique_function<void()>> jobs_;
    std::vector<std::thread> threads_;
    bool stopping_ = false;
};

} // namespace sluice::detail
