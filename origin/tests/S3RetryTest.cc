// origin/tests/S3RetryTest.cc: backoff arithmetic and the retry loop, on a fake clock.
#include "origin/s3/Retry.h"

#include <vector>

#include <gtest/gtest.h>

#include "config/Options.h"

namespace epochfs::origin::s3 {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

RetryPolicy policy(int attempts, milliseconds base, milliseconds max, milliseconds budget) {
  RetryPolicy p;
  p.maxAttempts = attempts;
  p.baseDelay = base;
  p.maxDelay = max;
  p.budget = budget;
  return p;
}

// A clock that only moves when the loop sleeps (or an attempt says it took time).
struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  std::vector<nanoseconds> sleeps;
  double unit = 1.0;  // the "random" number: 1.0 takes the whole cap

  RetryClock clock() {
    RetryClock c;
    c.now = [this] { return now; };
    c.sleep = [this](nanoseconds d) {
      sleeps.push_back(d);
      now += d;
    };
    c.random = [this] { return unit; };
    return c;
  }
};

TEST(RetryTest, CapDoublesUpToTheMaximum) {
  RetryPolicy p = policy(10, milliseconds(100), milliseconds(1000), seconds(30));
  EXPECT_EQ(backoffCap(p, 0), milliseconds(100));
  EXPECT_EQ(backoffCap(p, 1), milliseconds(200));
  EXPECT_EQ(backoffCap(p, 2), milliseconds(400));
  EXPECT_EQ(backoffCap(p, 3), milliseconds(800));
  EXPECT_EQ(backoffCap(p, 4), milliseconds(1000));
  EXPECT_EQ(backoffCap(p, 1000), milliseconds(1000));  // no overflow however many retries
}

TEST(RetryTest, FullJitterSpansZeroToTheCap) {
  RetryPolicy p = policy(10, milliseconds(100), milliseconds(1000), seconds(30));
  EXPECT_EQ(backoffDelay(p, 2, 0.0), nanoseconds(0));
  EXPECT_EQ(backoffDelay(p, 2, 0.5), milliseconds(200));
  EXPECT_EQ(backoffDelay(p, 2, 0.75), milliseconds(300));
  EXPECT_LE(backoffDelay(p, 2, 0.999999), milliseconds(400));
  EXPECT_EQ(backoffDelay(p, 9, 0.25), milliseconds(250));
}

TEST(RetryTest, RealRandomStaysWithinTheCap) {
  RetryPolicy p = policy(10, milliseconds(100), milliseconds(1000), seconds(30));
  RetryClock real = RetryClock::real();
  for (int i = 0; i < 1000; ++i) {
    double u = real.random();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_LE(backoffDelay(p, 3, u), backoffCap(p, 3));
  }
}

TEST(RetryTest, StopsOnSuccess) {
  FakeClock fc;
  int calls = 0;
  RetryOutcome out = runWithRetries(policy(6, milliseconds(100), seconds(5), seconds(30)),
                                    fc.clock(), [&](int i, auto) {
                                      EXPECT_EQ(i, calls);
                                      ++calls;
                                      return calls < 3;  // two failures, then done
                                    });
  EXPECT_EQ(out.attempts, 3);
  EXPECT_FALSE(out.gaveUp);
  EXPECT_EQ(fc.sleeps, (std::vector<nanoseconds>{milliseconds(100), milliseconds(200)}));
  EXPECT_EQ(out.elapsed, milliseconds(300));
}

TEST(RetryTest, GivesUpAfterMaxAttempts) {
  FakeClock fc;
  int calls = 0;
  RetryOutcome out = runWithRetries(policy(4, milliseconds(100), seconds(5), seconds(30)),
                                    fc.clock(), [&](int, auto) {
                                      ++calls;
                                      return true;
                                    });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(out.attempts, 4);
  EXPECT_TRUE(out.gaveUp);
  // No sleep after the last attempt.
  EXPECT_EQ(fc.sleeps, (std::vector<nanoseconds>{milliseconds(100), milliseconds(200),
                                                 milliseconds(400)}));
}

TEST(RetryTest, BudgetCutsTheLastBackoffShortAndStops) {
  FakeClock fc;
  int calls = 0;
  // Each attempt takes 1 s; budget 2.5 s; backoff cap 1 s.
  RetryOutcome out = runWithRetries(policy(100, seconds(1), seconds(1), milliseconds(2500)),
                                    fc.clock(), [&](int, auto deadline) {
                                      EXPECT_EQ(deadline, std::chrono::steady_clock::time_point{} +
                                                              milliseconds(2500));
                                      ++calls;
                                      fc.now += seconds(1);
                                      return true;
                                    });
  // t=0 attempt (until 1), sleep 1 -> t=2 attempt (until 3) -> past the deadline: stop.
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(out.gaveUp);
  EXPECT_EQ(out.elapsed, seconds(3));

  FakeClock fc2;
  calls = 0;
  // Attempts take no time; a 1 s backoff that would pass the 1.5 s deadline is cut to end
  // exactly at it, and one last attempt runs there.
  runWithRetries(policy(100, seconds(1), seconds(1), milliseconds(1500)), fc2.clock(),
                 [&](int, auto) {
                   ++calls;
                   return true;
                 });
  EXPECT_EQ(fc2.sleeps, (std::vector<nanoseconds>{seconds(1), milliseconds(500)}));
  EXPECT_EQ(calls, 3);
}

TEST(RetryTest, OneAttemptMeansNoRetry) {
  FakeClock fc;
  int calls = 0;
  RetryOutcome out = runWithRetries(policy(1, milliseconds(100), seconds(5), seconds(30)),
                                    fc.clock(), [&](int, auto) {
                                      ++calls;
                                      return true;
                                    });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(out.gaveUp);
  EXPECT_TRUE(fc.sleeps.empty());
}

TEST(RetryTest, FromOptions) {
  config::S3RetryOptions o;
  RetryPolicy p = RetryPolicy::from(o);
  EXPECT_EQ(p.maxAttempts, 6);
  EXPECT_EQ(p.baseDelay, milliseconds(100));
  EXPECT_EQ(p.maxDelay, seconds(5));
  EXPECT_EQ(p.budget, seconds(30));
  o.baseDelaySec = 0.025;
  EXPECT_EQ(RetryPolicy::from(o).baseDelay, milliseconds(25));
}

}  // namespace
}  // namespace epochfs::origin::s3
