// makeThreadExecutor() on real threads. No test sleeps: each waits on a condition variable
// for the turns it expects, with a generous timeout only as a guard against a hang. The idle
// timeout is an hour, so a turn seen again within the guard was not the idle timer's doing.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "cache/Executor.h"

namespace epochfs::cache {
namespace {

using namespace std::chrono_literals;

constexpr auto kIdle = std::chrono::milliseconds(1h);
constexpr auto kGuard = 60s;  // a hang, not a slow machine

// What the workers' turns did, and a way to wait for it. Declared before the executor, so
// that it outlives the workers.
class Turns {
 public:
  // Counts a turn on this thread and returns `busy(turn number)` (numbered from 1).
  bool run(const std::function<bool(int)>& busy) {
    int n = 0;
    {
      std::lock_guard<std::mutex> g(mu_);
      n = ++count_;
      threads_.insert(std::this_thread::get_id());
      if (stopped_) ++afterStop_;
    }
    cv_.notify_all();
    return busy(n);
  }
  // Waits until `n` turns have run; false if the guard ran out first.
  bool waitFor(int n) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, kGuard, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard<std::mutex> g(mu_);
    return count_;
  }
  size_t threads() {
    std::lock_guard<std::mutex> g(mu_);
    return threads_.size();
  }
  bool ranOn(std::thread::id id) {
    std::lock_guard<std::mutex> g(mu_);
    return threads_.contains(id);
  }
  void markStopped() {
    std::lock_guard<std::mutex> g(mu_);
    stopped_ = true;
  }
  int afterStop() {
    std::lock_guard<std::mutex> g(mu_);
    return afterStop_;
  }

 private:
  std::mutex mu_;  // guards all below
  std::condition_variable cv_;
  int count_ = 0;
  std::set<std::thread::id> threads_;
  bool stopped_ = false;
  int afterStop_ = 0;
};

const auto kIdleTurn = [](int) { return false; };

TEST(ThreadExecutorTest, EachWorkerCallsTheTurnOnAThreadOfItsOwn) {
  Turns turns;
  std::unique_ptr<Executor> ex = makeThreadExecutor();
  ex->start(3, [&] { return turns.run(kIdleTurn); }, kIdle);
  ASSERT_TRUE(turns.waitFor(3));
  EXPECT_EQ(turns.threads(), 3u);
  EXPECT_FALSE(turns.ranOn(std::this_thread::get_id()));
  ex->stop();
}

TEST(ThreadExecutorTest, ABusyTurnIsCalledAgainAtOnce) {
  Turns turns;
  constexpr int kBusyTurns = 5;
  std::unique_ptr<Executor> ex = makeThreadExecutor();
  ex->start(1, [&] { return turns.run([](int n) { return n <= kBusyTurns; }); }, kIdle);
  // Five busy turns, then the idle one: without a wake-up, an hour before the seventh.
  ASSERT_TRUE(turns.waitFor(kBusyTurns + 1));
  ex->stop();
  EXPECT_EQ(turns.count(), kBusyTurns + 1);
}

TEST(ThreadExecutorTest, StopReturnsOnceNoTurnRunsAndNoneRunsAfter) {
  Turns turns;
  std::unique_ptr<Executor> ex = makeThreadExecutor();
  // Always busy: the workers never wait, stop() must catch them between turns.
  ex->start(2, [&] { return turns.run([](int) { return true; }); }, kIdle);
  ASSERT_TRUE(turns.waitFor(10));
  ex->stop();
  turns.markStopped();
  const int atStop = turns.count();
  ex->stop();  // idempotent
  ex.reset();  // and the destructor's stop() after it
  EXPECT_EQ(turns.count(), atStop);
  EXPECT_EQ(turns.afterStop(), 0);
}

TEST(ThreadExecutorTest, StopEndsIdleWorkersWithoutWaitingForTheIdleTimeout) {
  Turns turns;
  std::unique_ptr<Executor> ex = makeThreadExecutor();
  ex->start(2, [&] { return turns.run(kIdleTurn); }, kIdle);
  ASSERT_TRUE(turns.waitFor(2));
  ex->stop();  // would hang for an hour if it did not wake them
  EXPECT_EQ(turns.count(), 2);
}

TEST(ThreadExecutorTest, WakeOneWakesAnIdleWorkerBeforeTheIdleTimeout) {
  Turns turns;
  std::unique_ptr<Executor> ex = makeThreadExecutor();
  ex->start(1, [&] { return turns.run(kIdleTurn); }, kIdle);
  ASSERT_TRUE(turns.waitFor(1));
  // The worker may still be in its first turn or already waiting: a wake-up counts either way.
  ex->wakeOne();
  ASSERT_TRUE(turns.waitFor(2));
  ex->wakeOne();
  ASSERT_TRUE(turns.waitFor(3));
  ex->stop();
  EXPECT_EQ(turns.count(), 3);
}

TEST(ThreadExecutorTest, WakeAllWakesEveryIdleWorkerBeforeTheIdleTimeout) {
  Turns turns;
  std::unique_ptr<Executor> ex = makeThreadExecutor();
  ex->start(2, [&] { return turns.run(kIdleTurn); }, kIdle);
  ASSERT_TRUE(turns.waitFor(2));
  ex->wakeAll();
  ASSERT_TRUE(turns.waitFor(4)) << "a turn more for each worker";
  ex->stop();
  EXPECT_EQ(turns.count(), 4);
}

}  // namespace
}  // namespace epochfs::cache
