// sluice — out-of-line bodies of sluice/loop/thread_pool.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/loop/thread_pool.hpp>

namespace sluice::detail {

SLUICE_DECL thread_pool& thread_pool::instance() {
    static thread_pool pool;
    return pool;
}

SLUICE_DECL void thread_pool::submit(unique_function<void()> job) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (threads_.empty()) start_locked();
    jobs_.push_back(std::move(job));
    lock.unlock();
    cv_.notify_one();
}

SLUICE_DECL std::size_t thread_pool::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_.size();
}

SLUICE_DECL thread_pool::~thread_pool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

SLUICE_DECL void thread_pool::start_locked() {
    std::size_t n = 4;
    if (const char* env = std::getenv("SLUICE_THREADPOOL_SIZE")) {
        long v = std::strtol(env, nullptr, 10);
        if (v >= 1 && v <= 256) n = static_cast<std::size_t>(v);
    }
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
}

SLUICE_DECL void thread_pool::work() {
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
} // namespace sluice::detail
