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
    for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { work_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

ThreadPool::Job* ThreadPool::find_job() {
    for (Job* job : jobs_)
        if (job->has_work()) return job;
    return nullptr;
}

void ThreadPool::work_on(Job& job) {
    try {
        for (size_t i = job.next.fetch_add(1); i < job.n; i = job.next.fetch_add(1)) (*job.task)(i);
    } catch (...) {
        job.next.store(job.n);  // skip what is left
        std::lock_guard<std::mutex> lock(mutex_);
        if (!job.error) job.error = std::current_exception();
    }
}

void ThreadPool::work_loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
        Job* job = nullptr;
        wake_.wait(lock, [&] { return stop_ || (job = find_job()) != nullptr; });
        if (stop_) return;
        ++job->inside;
        lock.unlock();
        work_on(*job);
        lock.lock();
        // The caller may only leave (destroying the job) once no worker is inside.
        if (--job->inside == 0) done_.notify_all();
    }
}

void ThreadPool::run(size_t n, const std::function<void(size_t)>& task, size_t max_threads) {
    size_t threads = max_threads == 0 ? size() : std::min(max_threads, size());
    if (threads <= 1 || n <= 1) {
        for (size_t i = 0; i < n; ++i) task(i);
        return;
    }
    Job job;
    job.task = &task;
    job.n = n;
    job.limit = threads;
    job.inside = 1;  // this thread
    std::list<Job*>::iterator position;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        position = jobs_.insert(jobs_.end(), &job);
    }
    wake_.notify_all();
    work_on(job);
    std::exception_ptr error;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        --job.inside;
        done_.wait(lock, [&] { return job.inside == 0; });
        jobs_.erase(position);
        error = job.error;
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace fastenc
