// cache/tests/ManualExecutor.h: an Executor whose turns run only when a test says so.
//
// start() records the turn; runOnce(), runUntilIdle() and settle() run it on the calling thread (a test
// that needs a prefetch in flight while it reads calls runOnce() from a thread of its own).
// Nothing runs in the background, so a test steps the prefetcher instead of sleeping until a
// thread has done something. Thread-safe as far as the turn is.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>

#include "cache/Executor.h"

namespace epochfs::cache::testing {

class ManualExecutor final : public Executor {
 public:
  void start(unsigned workers, Turn turn, std::chrono::milliseconds /*idle*/) override {
    std::lock_guard<std::mutex> g(mu_);
    workers_ = workers;
    turn_ = std::move(turn);
  }
  void wakeOne() override { wakes_++; }
  void wakeAll() override { wakes_++; }
  void stop() override { stopped_ = true; }

  // Runs one turn; its answer (false: there was nothing to do). False once stopped or before
  // start().
  bool runOnce() {
    Turn turn;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopped_ || !turn_) return false;
      turn = turn_;
    }
    return turn();
  }
  // Runs turns until one has nothing to do, at most `limit`; the number that did something.
  size_t runUntilIdle(size_t limit = 1'000'000) {
    size_t n = 0;
    while (n < limit && runOnce()) ++n;
    return n;
  }

  // Runs turns until two in a row have nothing to do: a failed or declined prefetch also ends
  // its turn with false, and the next turn goes on with the next block, as a woken worker's
  // would. What "the prefetcher has done what it may now" means in a test.
  void settle() {
    for (int idle = 0; idle < 2;) idle = runOnce() ? 0 : idle + 1;
  }

  unsigned workers() const {
    std::lock_guard<std::mutex> g(mu_);
    return workers_;
  }
  // Wake-ups asked for so far.
  uint64_t wakes() const { return wakes_.load(); }

 private:
  mutable std::mutex mu_;  // guards workers_ and turn_
  unsigned workers_ = 0;
  Turn turn_;
  std::atomic<uint64_t> wakes_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace epochfs::cache::testing
