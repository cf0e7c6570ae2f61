#include "thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace fastenc {

ThreadPool& ThreadPool::instance() {
    static ThreadPool pool([] {
        size_t n = std::thread::hardware_concurrency();
        if (const char* env = std::getenv("FASTENC_NUM_THREADS")) {
            long v = std::strtol(env, nullptr, 10);
            if (v > 0) n = static_cast<size_t>(v);
        }
        return n == 0 ? size_t{1} : n;
    }());
    return pool;
}

ThreadPool::ThreadPool(size_t threads) {
    for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::work_loop(size_t index) {
    size_t seen = 0;
    while (true) {
        const std::function<void(size_t)>* task;
        size_t n;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || (generation_ != seen && index < active_limit_); });
            if (stop_) return;
            seen = generation_;
            task = task_;
            n = n_;
            ++busy_;
        }
        for (size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) (*task)(i);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            --busy_;
        }
        done_.notify_all();
    }
}

void ThreadPool::run(size_t n, const std::function<void(size_t)>& task, size_t max_threads) {
    size_t threads = max_threads == 0 ? size() : std::min(max_threads, size());
    if (threads <= 1 || n <= 1) {
        for (size_t i = 0; i < n; ++i) task(i);
        return;
    }
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        task_ = &task;
        n_ = n;
        next_.store(0);
        active_limit_ = threads;
        ++generation_;
    }
    wake_.notify_all();
    for (size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) task(i);
    // Workers that woke late find no work left; wait for those still inside a task.
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    active_limit_ = 0;
}

}  // namespace fastenc
