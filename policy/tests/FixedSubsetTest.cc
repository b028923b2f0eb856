// policy/tests/FixedSubsetTest.cc
#include "policy/FixedSubset.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "policy/tests/Simulate.h"

namespace epochfs::policy {
namespace {

TEST(FixedSubsetTest, AdmitsOnlyWhatFitsWithoutEvicting) {
  FixedSubset fixed;
  EXPECT_TRUE(fixed.shouldAdmit(4 << 20, 0));
  EXPECT_FALSE(fixed.shouldAdmit(4 << 20, 1));
  EXPECT_FALSE(fixed.shouldAdmit(1, 1ull << 40));
}

TEST(FixedSubsetTest, NeverPicksAVictim) {
  FixedSubset fixed;
  EXPECT_EQ(fixed.pickVictim(), std::nullopt);
  for (BlockId id = 1; id <= 100; ++id) fixed.onInsert(id, 1);
  fixed.onAccess(5);
  EXPECT_EQ(fixed.size(), 100u);
  // Also when the cache must free space for its own reasons (min free space shrank): it
  // keeps everything, and with bytesToFree > 0 it admits nothing.
  EXPECT_EQ(fixed.pickVictim(), std::nullopt);
  EXPECT_FALSE(fixed.shouldAdmit(1, 1));
}

TEST(FixedSubsetTest, EraseForgetsAndUnknownIdsAreIgnored) {
  FixedSubset fixed;
  fixed.onInsert(1, 1);
  fixed.onInsert(2, 1);
  fixed.onInsert(2, 1);  // already tracked
  EXPECT_EQ(fixed.size(), 2u);
  fixed.onErase(99);
  fixed.onAccess(99);
  EXPECT_EQ(fixed.size(), 2u);
  fixed.onErase(1);
  fixed.onErase(1);
  EXPECT_EQ(fixed.size(), 1u);
}

// 1..C+1 repeated: the first C blocks stay, block C+1 is never admitted.
TEST(FixedSubsetTest, CyclicTraceHitsCapacityPerRound) {
  constexpr size_t kCapacity = 4;
  constexpr int kRounds = 10;
  FixedSubset fixed;
  SimResult r = simulate(fixed, cyclicTrace(kCapacity + 1, kRounds), kCapacity);
  EXPECT_EQ(r.hitsIn(0, kCapacity + 1), 0u);
  for (size_t round = 1; round < kRounds; ++round) {
    size_t begin = round * (kCapacity + 1);
    EXPECT_EQ(r.hitsIn(begin, begin + kCapacity + 1), kCapacity) << "round " << round;
    EXPECT_FALSE(r.hit[begin + kCapacity]) << "block C+1 was admitted";
  }
  EXPECT_EQ(r.hits(), (kRounds - 1) * kCapacity);
  EXPECT_EQ(r.notAdmitted, static_cast<size_t>(kRounds));
  EXPECT_TRUE(r.evictions.empty());
}

// Each epoch reads every item once in a fresh order: exactly the C kept items hit, every
// epoch after the first, whatever the order (ARCHITECTURE.md: c, optimal without prefetch).
TEST(FixedSubsetTest, ShuffledEpochsHitExactlyCapacityPerEpoch) {
  constexpr size_t kItems = 1000, kCapacity = 300;
  constexpr int kEpochs = 8;
  std::mt19937 rng(3);
  std::vector<BlockId> order(kItems), trace;
  for (size_t i = 0; i < kItems; ++i) order[i] = i;
  for (int e = 0; e < kEpochs; ++e) {
    std::shuffle(order.begin(), order.end(), rng);
    trace.insert(trace.end(), order.begin(), order.end());
  }
  FixedSubset fixed;
  SimResult r = simulate(fixed, trace, kCapacity);
  EXPECT_EQ(r.hitsIn(0, kItems), 0u);
  for (size_t e = 1; e < kEpochs; ++e) {
    EXPECT_EQ(r.hitsIn(e * kItems, (e + 1) * kItems), kCapacity) << "epoch " << e;
  }
}

TEST(FixedSubsetTest, RoomLeftByAnErasedBlockIsFilledAgain) {
  FixedSubset fixed;
  // A cache of 2 blocks holding 1 and 2; the cache drops 2 (stale at the origin).
  fixed.onInsert(1, 1);
  fixed.onInsert(2, 1);
  EXPECT_FALSE(fixed.shouldAdmit(1, 1));
  fixed.onErase(2);
  EXPECT_TRUE(fixed.shouldAdmit(1, 0));
  fixed.onInsert(3, 1);
  EXPECT_EQ(fixed.size(), 2u);
}

}  // namespace
}  // namespace epochfs::policy
