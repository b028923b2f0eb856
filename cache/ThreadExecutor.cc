// makeThreadExecutor(): the prefetcher's workers on threads of their own.
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "cache/Executor.h"

namespace epochfs::cache {
namespace {

class ThreadExecutor final : public Executor {
 public:
  ~ThreadExecutor() override { stop(); }

  void start(unsigned workers, Turn turn, std::chrono::milliseconds idle) override {
    std::lock_guard<std::mutex> g(mu_);
    if (!threads_.empty() || stopping_) return;
    turn_ = std::move(turn);
    idle_ = idle;
    workers_ = workers;
    for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
  }

  void wakeOne() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (wakes_ < workers_) ++wakes_;
    }
    cv_.notify_one();
  }

  void wakeAll() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      wakes_ = workers_;
    }
    cv_.notify_all();
  }

  void stop() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (std::thread& t : threads) t.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
      lk.unlock();
      const bool busy = turn_();
      lk.lock();
      if (busy || stopping_) continue;
      // A wake-up that came during the turn counts: it may be the news the turn lacked.
      cv_.wait_for(lk, idle_, [&] { return stopping_ || wakes_ > 0; });
      if (wakes_ > 0) --wakes_;
    }
  }

  std::mutex mu_;  // guards all below but turn_ (set once before the threads start)
  std::condition_variable cv_;
  Turn turn_;
  std::chrono::milliseconds idle_{0};
  unsigned workers_ = 0;
  unsigned wakes_ = 0;  // wake-ups not yet taken by a worker going idle
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Executor> makeThreadExecutor() { return std::make_unique<ThreadExecutor>(); }

}  // namespace epochfs::cache
