// A persistent pool of worker threads for batch encoding. Starting threads per call would cost more than encoding
// a small batch; these wait on a condition variable between calls. Several callers (Python threads sharing one
// tokenizer) may run jobs at once: each job is queued, idle workers join the oldest job with work left, and every
// caller works on its own job too, so a job always progresses even when all workers are busy elsewhere.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
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

    // Runs task(i) for i in [0, n) on at most `max_threads` threads (0: all), the calling thread included; returns
    // when all are done. Safe to call from several threads at once. The first exception a task throws is rethrown
    // here once every started task has returned (remaining indices are skipped).
    void run(size_t n, const std::function<void(size_t)>& task, size_t max_threads = 0);

private:
    // One run() call. Lives on the caller's stack; listed in jobs_ while workers may join it.
    struct Job {
        const std::function<void(size_t)>* task;
        size_t n;
        size_t limit;  // most threads inside at once
        std::atomic<size_t> next{0};
        size_t inside = 0;  // threads working on it (guarded by mutex_)
        std::exception_ptr error;  // guarded by mutex_
        bool has_work() const { return next.load(std::memory_order_relaxed) < n && inside < limit; }
    };

    void work_loop();
    void work_on(Job& job);  // takes indices until none are left; records the first exception
    Job* find_job();          // under mutex_: the oldest job a worker may join, or null

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;  // a job was queued, or stop_
    std::condition_variable done_;  // some job's last helper left
    std::list<Job*> jobs_;
    bool stop_ = false;
};

}  // namespace fastenc
