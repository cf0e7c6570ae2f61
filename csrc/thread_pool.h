// A persistent pool of worker threads for batch encoding. Starting threads per call would cost more than encoding
// a small batch; these wait on a condition variable between calls. The calling thread works too.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fastenc {

class ThreadPool {
public:
    // Process-wide pool with one thread per core, or FASTENC_NUM_THREADS if set.
    static ThreadPool& instance();

    explicit ThreadPool(size_t threads);
    ~ThreadPool();

    size_t size() const { return workers_.size() + 1; }

    // Runs task(i) for i in [0, n) on at most `max_threads` threads (0: all); returns when all are done.
    void run(size_t n, const std::function<void(size_t)>& task, size_t max_threads = 0);

private:
    void work_loop(size_t index);

    std::vector<std::thread> workers_;
    std::mutex run_mutex_;  // one batch at a time; concurrent callers queue up
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const std::function<void(size_t)>* task_ = nullptr;
    size_t n_ = 0;
    size_t active_limit_ = 0;  // workers with index < this take part in the current job
    std::atomic<size_t> next_{0};
    size_t busy_ = 0;
    size_t generation_ = 0;
    bool stop_ = false;
};

}  // namespace fastenc
