// cache/Prefetcher.h: all of the cache's background fetching, and when it runs.
//
// The prefetcher owns the workers (on an Executor), their wake-ups and the prefetch counters.
// A worker's turn first runs a queued job, if any (listing-driven discovery: fs/ lists a
// directory being read and the cache registers its files as candidates), then asks the cache
// for one prefetch (Target::prefetchOne: the policy names a block, the cache admits, fetches
// and stores it). After an idle turn the worker sleeps until woken or kIdleWait has passed:
// woken for all after a plan, a new epoch or when writes work again; woken for one after a
// read, only if the last turn found no room (a read may have made some, and waking a worker
// for nothing would cost a lock and a statvfs on every hit).
//
// Thread-safe, but for counters(), which the cache reads and writes with its own mutex held.
// The Target is called with no lock of the prefetcher's held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "cache/BlockCache.h"
#include "cache/Executor.h"

namespace epochfs::cache {

class Prefetcher {
 public:
  // What the workers drive: the cache.
  class Target {
   public:
    virtual ~Target() = default;
    // One prefetch; false when there was nothing to do (no candidate, no room, the origin
    // busy with demand reads, or writes failing).
    virtual bool prefetchOne() = 0;
  };

  // How long an idle worker sleeps unless woken.
  static constexpr std::chrono::milliseconds kIdleWait{50};

  Prefetcher(Target& target, std::unique_ptr<Executor> executor);
  ~Prefetcher();  // stop()
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Starts `threads` workers (0: none, prefetch stays off). Call once.
  void start(unsigned threads);
  // Workers started (0 before start() and when prefetch is off).
  unsigned threads() const { return threads_.load(std::memory_order_relaxed); }
  // True once stop() has begun: the cache then starts nothing new.
  bool stopping() const { return stopping_.load(); }
  // Stops the workers and drops queued jobs; returns once no turn runs.
  void stop();

  void wakeAll() { executor_->wakeAll(); }
  // After a read: wakes one worker if the last prefetch found no room.
  void wakeForRoom() {
    if (wantsRoom_.load(std::memory_order_relaxed)) executor_->wakeOne();
  }
  // Whether the last prefetch attempt wanted room it did not get (see wakeForRoom()).
  void setWantsRoom(bool wants) { wantsRoom_.store(wants, std::memory_order_relaxed); }

  // Runs `job` on a worker before its next prefetch. Dropped if prefetch is off or stopping.
  void enqueue(std::function<void()> job);
  // Drops the queued jobs and returns once none runs: for a caller whose jobs use what it is
  // about to destroy.
  void cancelJobs();

  // The counters (PrefetchStats::threads and paused are filled in by the cache's stats()).
  // Guarded by the cache's mutex.
  PrefetchStats& counters() { return counters_; }
  const PrefetchStats& counters() const { return counters_; }

 private:
  bool turn();

  Target& target_;
  std::unique_ptr<Executor> executor_;
  std::atomic<unsigned> threads_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> wantsRoom_{false};
  std::mutex jobsMu_;  // guards jobs_ and jobsRunning_; never held while a job runs
  std::condition_variable jobsDone_;
  std::deque<std::function<void()>> jobs_;
  unsigned jobsRunning_ = 0;
  PrefetchStats counters_;
};

}  // namespace epochfs::cache
