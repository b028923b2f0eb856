#include "cache/Prefetcher.h"

#include <utility>

namespace epochfs::cache {

Prefetcher::Prefetcher(Target& target, std::unique_ptr<Executor> executor)
    : target_(target), executor_(std::move(executor)) {}

Prefetcher::~Prefetcher() { stop(); }

void Prefetcher::start(unsigned threads) {
  unsigned none = 0;
  if (threads == 0 || stopping_ || !threads_.compare_exchange_strong(none, threads)) return;
  executor_->start(threads, [this] { return turn(); }, kIdleWait);
}

void Prefetcher::stop() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> g(jobsMu_);
    jobs_.clear();
  }
  executor_->stop();
}

void Prefetcher::enqueue(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> g(jobsMu_);
    if (threads_ == 0 || stopping_) return;
    jobs_.push_back(std::move(job));
  }
  executor_->wakeOne();
}

void Prefetcher::cancelJobs() {
  std::unique_lock<std::mutex> lk(jobsMu_);
  jobs_.clear();
  jobsDone_.wait(lk, [&] { return jobsRunning_ == 0; });
}

bool Prefetcher::turn() {
  if (stopping_) return false;
  std::function<void()> job;
  {
    std::lock_guard<std::mutex> g(jobsMu_);
    if (!jobs_.empty()) {
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++jobsRunning_;
    }
  }
  if (job) {
    job();
    {
      std::lock_guard<std::mutex> g(jobsMu_);
      --jobsRunning_;
    }
    jobsDone_.notify_all();
    return true;
  }
  return target_.prefetchOne();
}

}  // namespace epochfs::cache
