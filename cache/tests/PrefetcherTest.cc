// Prefetcher: its turns, queued jobs, wake-ups and shutdown, stepped by hand (ManualExecutor)
// over a Target that counts what it is asked.
#include "cache/Prefetcher.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cache/tests/ManualExecutor.h"

namespace epochfs::cache::testing {
namespace {

// Answers prefetchOne() with `busyTurns` trues, then false.
class CountingTarget final : public Prefetcher::Target {
 public:
  bool prefetchOne() override {
    ++calls;
    return busyTurns > 0 && busyTurns-- > 0;
  }
  int calls = 0;
  int busyTurns = 0;
};

class PrefetcherTest : public ::testing::Test {
 protected:
  PrefetcherTest() {
    auto e = std::make_unique<ManualExecutor>();
    exec_ = e.get();
    prefetcher_ = std::make_unique<Prefetcher>(target_, std::move(e));
  }

  CountingTarget target_;
  ManualExecutor* exec_;
  std::unique_ptr<Prefetcher> prefetcher_;
};

TEST_F(PrefetcherTest, NothingRunsBeforeStartOrWithNoThreads) {
  EXPECT_FALSE(exec_->runOnce());
  prefetcher_->start(0);
  EXPECT_EQ(prefetcher_->threads(), 0u);
  EXPECT_FALSE(exec_->runOnce());
  EXPECT_EQ(target_.calls, 0);
}

TEST_F(PrefetcherTest, ATurnIsOnePrefetchOfTheTarget) {
  prefetcher_->start(3);
  EXPECT_EQ(prefetcher_->threads(), 3u);
  EXPECT_EQ(exec_->workers(), 3u);
  target_.busyTurns = 4;
  EXPECT_EQ(exec_->runUntilIdle(), 4u);
  EXPECT_EQ(target_.calls, 5) << "four prefetches, then one with nothing to do";
  prefetcher_->start(5);  // once only
  EXPECT_EQ(prefetcher_->threads(), 3u);
}

TEST_F(PrefetcherTest, QueuedJobsRunBeforeThePrefetchesInOrder) {
  std::vector<int> ran;
  prefetcher_->enqueue([&] { ran.push_back(0); });  // prefetch is off: dropped
  prefetcher_->start(1);
  prefetcher_->enqueue([&] { ran.push_back(1); });
  prefetcher_->enqueue([&] { ran.push_back(2); });
  EXPECT_TRUE(exec_->runOnce());
  EXPECT_EQ(target_.calls, 0) << "a job is a turn of its own";
  EXPECT_TRUE(exec_->runOnce());
  EXPECT_FALSE(exec_->runOnce());
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_EQ(target_.calls, 1);
  EXPECT_GE(exec_->wakes(), 2u) << "each job wakes a worker";
}

TEST_F(PrefetcherTest, AReadWakesAWorkerOnlyWhenThePrefetchWantedRoom) {
  prefetcher_->start(1);
  const uint64_t before = exec_->wakes();
  prefetcher_->wakeForRoom();
  EXPECT_EQ(exec_->wakes(), before);
  prefetcher_->setWantsRoom(true);
  prefetcher_->wakeForRoom();
  EXPECT_EQ(exec_->wakes(), before + 1);
  prefetcher_->setWantsRoom(false);
  prefetcher_->wakeForRoom();
  EXPECT_EQ(exec_->wakes(), before + 1);
  prefetcher_->wakeAll();
  EXPECT_EQ(exec_->wakes(), before + 2);
}

TEST_F(PrefetcherTest, StopDropsTheJobsAndEndsTheTurns) {
  bool ran = false;
  prefetcher_->start(1);
  prefetcher_->enqueue([&] { ran = true; });
  target_.busyTurns = 10;
  prefetcher_->stop();
  EXPECT_TRUE(prefetcher_->stopping());
  EXPECT_FALSE(exec_->runOnce());
  EXPECT_FALSE(ran);
  EXPECT_EQ(target_.calls, 0);
  prefetcher_->enqueue([&] { ran = true; });  // after stop: dropped
  EXPECT_FALSE(exec_->runOnce());
  EXPECT_FALSE(ran);
}

// cancelJobs() drops what is queued and returns only once a running job is done: its caller
// may then destroy what the jobs use.
TEST_F(PrefetcherTest, CancelJobsWaitsForTheRunningJob) {
  prefetcher_->start(1);
  std::promise<void> entered;
  std::promise<void> proceed;
  std::shared_future<void> go = proceed.get_future().share();
  std::atomic<bool> finished{false};
  bool secondRan = false;
  prefetcher_->enqueue([&] {
    entered.set_value();
    go.wait();
    finished = true;
  });
  prefetcher_->enqueue([&] { secondRan = true; });
  std::thread worker([&] { exec_->runOnce(); });
  entered.get_future().wait();
  // The job is running: cancelJobs() must not return before it is done. A cancelJobs() that
  // did not wait would return within the grace period below; one that waits cannot return
  // before `proceed`, however slow the machine.
  std::future<bool> cancelled = std::async(std::launch::async, [&] {
    prefetcher_->cancelJobs();
    return finished.load();
  });
  const bool returnedEarly =
      cancelled.wait_for(std::chrono::milliseconds(200)) == std::future_status::ready;
  proceed.set_value();
  const bool sawFinished = cancelled.get();
  worker.join();
  EXPECT_FALSE(returnedEarly) << "cancelJobs returned while the job ran";
  EXPECT_TRUE(sawFinished) << "cancelJobs returned while the job ran";
  EXPECT_FALSE(exec_->runOnce()) << "nothing left but an idle prefetch";
  EXPECT_FALSE(secondRan) << "the queued job was dropped";
}

}  // namespace
}  // namespace epochfs::cache::testing
