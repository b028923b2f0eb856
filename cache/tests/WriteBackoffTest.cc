// The write backoff stepped by hand: no clock is read.
#include "cache/WriteBackoff.h"

#include <gtest/gtest.h>

namespace epochfs::cache {
namespace {

using namespace std::chrono_literals;
using Failure = WriteBackoff::Failure;

TEST(WriteBackoffTest, FirstFailurePausesAndOnlyLaterFailuresDoubleThePauseUpToTheMax) {
  WriteBackoff b(1s, 4s);
  const WriteBackoff::Clock::time_point t0{};
  EXPECT_FALSE(b.paused(t0));
  EXPECT_EQ(b.onFailure(t0), Failure::kEpisodeStarted);
  EXPECT_TRUE(b.paused(t0 + 999ms));
  EXPECT_FALSE(b.paused(t0 + 1s));
  // Writes that were already under way when the pause began change nothing.
  EXPECT_EQ(b.onFailure(t0 + 500ms), Failure::kWhilePaused);
  EXPECT_EQ(b.pausedUntil(), t0 + 1s);
  // Prefetch resumed and failed again: twice as long.
  EXPECT_EQ(b.onFailure(t0 + 1s), Failure::kPauseExtended);
  EXPECT_EQ(b.pausedUntil(), t0 + 3s);
  EXPECT_EQ(b.onFailure(t0 + 3s), Failure::kPauseExtended);
  EXPECT_EQ(b.pausedUntil(), t0 + 7s);
  EXPECT_EQ(b.onFailure(t0 + 7s), Failure::kPauseExtended);
  EXPECT_EQ(b.pausedUntil(), t0 + 11s) << "capped at the max";
  EXPECT_EQ(b.pauses(), 4u);
  EXPECT_EQ(b.episodeFailures(), 5u);
}

TEST(WriteBackoffTest, SuccessEndsTheEpisodeAndTheNextFailureStartsOverAtTheFirstPause) {
  WriteBackoff b(1s, 60s);
  const WriteBackoff::Clock::time_point t0{};
  EXPECT_FALSE(b.onSuccess()) << "no episode to end";
  b.onFailure(t0);
  b.onFailure(t0 + 1s);
  EXPECT_TRUE(b.paused(t0 + 2s));
  EXPECT_TRUE(b.onSuccess());
  EXPECT_FALSE(b.inEpisode());
  EXPECT_FALSE(b.paused(t0 + 2s)) << "a successful write resumes prefetch at once";
  EXPECT_EQ(b.onFailure(t0 + 61s), Failure::kEpisodeStarted);
  EXPECT_EQ(b.pausedUntil(), t0 + 62s);
  EXPECT_EQ(b.episodeFailures(), 1u);
}

// A dir with a few inodes left: now and then a write succeeds. The episodes that follow soon
// after are quiet and keep backing off; one long after starts over, logged.
TEST(WriteBackoffTest, AFlappingDirIsLoggedOnceAndKeepsBackingOff) {
  WriteBackoff b(1s, 8s);
  const WriteBackoff::Clock::time_point t0{};
  EXPECT_EQ(b.onFailure(t0), Failure::kEpisodeStarted);
  EXPECT_TRUE(b.onSuccess()) << "the logged episode ended: worth a line";
  EXPECT_EQ(b.onFailure(t0 + 1s), Failure::kEpisodeResumed);
  EXPECT_EQ(b.pausedUntil(), t0 + 3s) << "the pause doubled instead of starting over";
  EXPECT_FALSE(b.onSuccess()) << "a quiet episode's end is quiet too";
  EXPECT_EQ(b.onFailure(t0 + 4s), Failure::kEpisodeResumed);
  EXPECT_EQ(b.pausedUntil(), t0 + 8s);
  b.onSuccess();
  EXPECT_EQ(b.onFailure(t0 + 20s), Failure::kEpisodeStarted) << "long after: a new episode";
  EXPECT_EQ(b.pausedUntil(), t0 + 21s);
}

}  // namespace
}  // namespace epochfs::cache
