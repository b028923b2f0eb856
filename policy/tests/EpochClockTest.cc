// policy/tests/EpochClockTest.cc
#include "policy/EpochClock.h"

#include <gtest/gtest.h>

#include "policy/EpochAware.h"
#include "policy/sim/Replay.h"

namespace epochfs::policy {
namespace {

using sim::EpochTrace;
using sim::makeEpochTrace;

void readAll(EpochClock& c, BlockId from, BlockId to) {
  for (BlockId id = from; id <= to; ++id) c.onRead(id);
}

TEST(EpochClockTest, ARereadEndsTheEpochOnceTheFractionWasRead) {
  EpochClock c;  // 0.9
  EXPECT_EQ(c.epoch(), 1u);
  readAll(c, 1, 10);
  EXPECT_EQ(c.knownBlocks(), 10u);
  EXPECT_EQ(c.readsThisEpoch(), 10u);
  EXPECT_TRUE(c.onRead(1)) << "every known block was read: a re-read begins epoch 2";
  EXPECT_EQ(c.epoch(), 2u);
  EXPECT_EQ(c.readsThisEpoch(), 1u) << "the re-read is the new epoch's first read";
  EXPECT_TRUE(c.readThisEpoch(1));
  EXPECT_FALSE(c.readThisEpoch(2));
  readAll(c, 2, 8);  // 8 of 10 read: less than 0.9
  EXPECT_FALSE(c.onRead(1)) << "8 of 10 read: a duplicate, not a boundary";
  EXPECT_EQ(c.epoch(), 2u);
  EXPECT_EQ(c.readsThisEpoch(), 8u) << "a duplicate is not counted";
  c.onRead(9);  // 9 of 10: the fraction
  EXPECT_TRUE(c.onRead(2));
  EXPECT_EQ(c.epoch(), 3u);
}

// Each boundary once, within the first window() reads of the epoch: until then a block read
// in the last window() reads of the previous epoch is a duplicate.
TEST(EpochClockTest, FindsEachBoundaryOfAShuffledTraceOnce) {
  EpochTrace trace = makeEpochTrace(1000, 5, 9);
  EpochClock c;
  for (size_t e = 0; e < trace.size(); ++e) {
    size_t began = 0;
    for (size_t i = 0; i < trace[e].size(); ++i) {
      if (!c.onRead(trace[e][i])) continue;
      ++began;
      EXPECT_LE(i, c.window()) << "epoch " << e + 1;
    }
    EXPECT_EQ(began, e > 0 ? 1u : 0u) << "epoch " << e + 1;
    EXPECT_EQ(c.epoch(), e + 1);
    EXPECT_GE(c.readsThisEpoch(), 1000u - c.window());
  }
}

TEST(EpochClockTest, AReadWithinTheWindowIsADuplicate) {
  EpochClock c({.reorderWindow = 4});
  readAll(c, 0, 99);  // ids from 0, as policy/sim numbers them
  EXPECT_EQ(c.window(), 4u);
  EXPECT_FALSE(c.onRead(96)) << "read 4 reads ago: within the window";
  EXPECT_EQ(c.epoch(), 1u);
  EXPECT_TRUE(c.onRead(95)) << "read 6 reads ago: beyond it";
  EXPECT_EQ(c.epoch(), 2u);
}

TEST(EpochClockTest, TheWindowIsCappedByTheKnownBlocksAndAtLeastOne) {
  EpochClock c;  // 256, 0.9
  EXPECT_EQ(c.window(), 1u);
  readAll(c, 1, 25);
  EXPECT_EQ(c.window(), 2u) << "(1 - 0.9) x 25";
  readAll(c, 26, 5000);
  EXPECT_EQ(c.window(), 256u);
  EpochClock tiny;
  tiny.onRead(1);
  EXPECT_FALSE(tiny.onRead(1)) << "an immediate duplicate never ends an epoch";
  tiny.onRead(2);
  EXPECT_TRUE(tiny.onRead(1));
}

// Epoch 2 leaves 98 and 99 unread; epoch 3 begins, and a parallel reader's read of 98 comes
// within its first 4 reads: it belongs to epoch 2, and 98 is still to be read in epoch 3.
TEST(EpochClockTest, EarlyInAnEpochABlockTheLastOneMissedIsALateReadOfIt) {
  EpochClock c({.reorderWindow = 4});
  readAll(c, 0, 99);
  EXPECT_TRUE(c.onRead(0));
  readAll(c, 1, 97);
  EXPECT_TRUE(c.onRead(1));
  ASSERT_EQ(c.epoch(), 3u);
  EXPECT_FALSE(c.onRead(98));
  EXPECT_FALSE(c.readThisEpoch(98)) << "a late read of epoch 2";
  EXPECT_EQ(c.readsThisEpoch(), 1u) << "and not counted in epoch 3";
  EXPECT_TRUE(c.isLatestRead(98));
  c.onRead(2);  // read in epoch 2: an ordinary read of epoch 3
  EXPECT_TRUE(c.readThisEpoch(2));
  readAll(c, 3, 4);
  EXPECT_EQ(c.readsThisEpoch(), 4u);
  c.onRead(99);  // missed epoch 2 too, but 4 reads into epoch 3: a read of epoch 3
  EXPECT_TRUE(c.readThisEpoch(99));
  EXPECT_FALSE(c.onRead(98)) << "its read in epoch 3";
  EXPECT_TRUE(c.readThisEpoch(98));
  EXPECT_EQ(c.readsThisEpoch(), 6u);
  EXPECT_EQ(c.epoch(), 3u);
}

TEST(EpochClockTest, AtTheStartOfAnEpochABlockReadInThePreviousOneIsReadNormally) {
  EpochClock c({.reorderWindow = 4});
  readAll(c, 1, 100);
  EXPECT_TRUE(c.onRead(5));
  c.onRead(6);
  EXPECT_TRUE(c.readThisEpoch(6));
  EXPECT_EQ(c.readsThisEpoch(), 2u);
}

TEST(EpochClockTest, SetEpochMovesOnlyForward) {
  EpochClock c;
  readAll(c, 1, 10);
  EXPECT_FALSE(c.setEpoch(1));
  EXPECT_FALSE(c.setEpoch(0));
  EXPECT_EQ(c.epoch(), 1u);
  EXPECT_EQ(c.readsThisEpoch(), 10u);
  EXPECT_TRUE(c.setEpoch(2));
  EXPECT_EQ(c.epoch(), 2u);
  EXPECT_EQ(c.readsThisEpoch(), 0u);
  EXPECT_FALSE(c.readThisEpoch(1)) << "every block is unread in the new epoch";
  EXPECT_FALSE(c.setEpoch(2));
  EXPECT_FALSE(c.setEpoch(1));
  EXPECT_EQ(c.epoch(), 2u);
  c.onRead(3);  // read in epoch 1, the previous one: an ordinary read
  EXPECT_TRUE(c.readThisEpoch(3));
  EXPECT_EQ(c.readsThisEpoch(), 1u);
  EXPECT_TRUE(c.isLatestRead(3)) << "setEpoch is not a read";
}

// Told epoch 4 in epoch 2: nothing was read in epoch 3, so early in epoch 4 every block is
// one that epoch 3 missed, i.e. a late read of it.
TEST(EpochClockTest, AfterAJumpEarlyReadsAreLateReadsOfTheSkippedEpoch) {
  EpochClock c;
  readAll(c, 1, 10);
  EXPECT_TRUE(c.setEpoch(2));
  readAll(c, 1, 10);
  EXPECT_TRUE(c.setEpoch(4));
  EXPECT_EQ(c.epoch(), 4u);
  c.onRead(1);
  EXPECT_FALSE(c.readThisEpoch(1));
  EXPECT_EQ(c.readsThisEpoch(), 0u);
  c.onRead(1);  // told already as epoch 3's: now a read of epoch 4
  EXPECT_TRUE(c.readThisEpoch(1));
  EXPECT_EQ(c.readsThisEpoch(), 1u);
}

// A discovered block (listed, not read) is simply not told to the clock: it does not count
// among the known blocks and cannot hold an epoch open. A block cached without a read does
// count once added.
TEST(EpochClockTest, OnlyBlocksReadOrAddedAreKnown) {
  EpochClock c;
  readAll(c, 1, 10);
  EXPECT_TRUE(c.onRead(1)) << "10 of 10 known blocks read, whatever else is listed";
  EpochClock added;
  readAll(added, 1, 10);
  for (BlockId id = 11; id <= 100; ++id) added.addKnown(id);
  added.addKnown(5);  // known already
  added.addKnown(11);
  EXPECT_EQ(added.knownBlocks(), 100u);
  EXPECT_FALSE(added.readThisEpoch(11));
  EXPECT_FALSE(added.onRead(1)) << "10 of 100 known blocks read: a duplicate";
  added.onRead(11);
  EXPECT_EQ(added.knownBlocks(), 100u) << "an added block's first read does not add it again";
  EXPECT_EQ(added.readsThisEpoch(), 11u);
}

TEST(EpochClockTest, LatestReadAndSparseIds) {
  EpochClock c;
  EXPECT_FALSE(c.isLatestRead(0)) << "no read yet";
  EXPECT_FALSE(c.readThisEpoch(1u << 30)) << "an id never seen";
  c.onRead(0);
  EXPECT_TRUE(c.isLatestRead(0));
  c.onRead(1'000'000);
  EXPECT_TRUE(c.isLatestRead(1'000'000));
  EXPECT_FALSE(c.isLatestRead(0));
  EXPECT_TRUE(c.readThisEpoch(0));
  EXPECT_TRUE(c.readThisEpoch(1'000'000));
  EXPECT_FALSE(c.readThisEpoch(999'999));
  EXPECT_EQ(c.knownBlocks(), 2u);
}

// The cache's stats clock, told of every read: it finds the same boundaries as the policy
// (reordered reads and duplicates included), without holding the policy's candidates. (Moved
// from EpochAwareTest, where the clock was an EpochAware without candidates.)
TEST(EpochClockTest, SeesTheSameBoundariesAsEpochAware) {
  EpochTrace trace = makeEpochTrace(1000, 4, 12);
  std::swap(trace[1].front(), trace[0].back());  // a late read of epoch 1 after epoch 2 began
  trace[2].insert(trace[2].begin() + 10, trace[2][9]);  // a duplicate read
  EpochAware withCandidates;
  EpochClock clock;
  size_t reads = 0;
  for (const auto& epoch : trace) {
    for (BlockId id : epoch) {
      withCandidates.onMiss(id);
      const uint64_t before = clock.epoch();
      const bool began = clock.onRead(id);
      ASSERT_EQ(began, clock.epoch() != before) << "after read " << reads;
      ASSERT_EQ(clock.epoch(), withCandidates.epoch()) << "after read " << reads;
      ASSERT_EQ(clock.readsThisEpoch(), withCandidates.readsThisEpoch()) << "after read " << reads;
      ++reads;
    }
  }
  EXPECT_EQ(clock.epoch(), 4u);
  EXPECT_GT(withCandidates.pendingBlocks(), 0u) << "the policy held candidates meanwhile";
}

}  // namespace
}  // namespace epochfs::policy
