// policy/tests/EpochAwareTest.cc
#include "policy/EpochAware.h"

#include <algorithm>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "policy/sim/Replay.h"

namespace epochfs::policy {
namespace {

using sim::EpochTrace;
using sim::makeEpochTrace;
using sim::replay;
using sim::ReplayOptions;

void readMiss(EpochAware& p, BlockId id, bool insert) {
  p.onMiss(id);
  if (insert) p.onInsert(id, 1);
}

TEST(EpochAwareTest, VictimsAreBlocksReadThisEpochOldestFirst) {
  EpochAware p;
  readMiss(p, 1, true);
  readMiss(p, 2, true);
  EXPECT_TRUE(p.shouldAdmit(1, 2));
  EXPECT_EQ(p.pickVictim(), 1u);
  EXPECT_EQ(p.pickVictim(), 1u);  // not forgotten until onErase
  p.onEpoch(2);
  // Both are unread in epoch 2: never evicted to admit a block that was just read.
  EXPECT_FALSE(p.shouldAdmit(1, 1));
  EXPECT_EQ(p.pickVictim(), std::nullopt);
  EXPECT_TRUE(p.shouldAdmit(1, 0));
  p.onAccess(2);
  EXPECT_TRUE(p.shouldAdmit(1, 1));
  EXPECT_FALSE(p.shouldAdmit(1, 2));  // one read byte is not enough to free two
  EXPECT_EQ(p.pickVictim(), 2u);
  p.onErase(2);
  EXPECT_EQ(p.pickVictim(), std::nullopt);
  EXPECT_EQ(p.size(), 1u);
}

TEST(EpochAwareTest, BlocksFilledWithoutOnMissCountAsReadNow) {
  // cache/BlockCache calls only onInsert for a filled miss (and for blocks found at startup).
  EpochAware p;
  p.onInsert(7, 4096);
  EXPECT_EQ(p.readsThisEpoch(), 1u);
  EXPECT_TRUE(p.shouldAdmit(4096, 4096));
  EXPECT_EQ(p.pickVictim(), 7u);
}

// Demand only, the known optimum: every epoch after the first serves exactly C reads.
TEST(EpochAwareTest, DemandOnlyServesExactlyTheCacheEveryEpoch) {
  for (uint64_t seed : {1, 2, 3}) {
    EpochTrace trace = makeEpochTrace(10, 6, seed);
    EpochAware p;
    ReplayOptions ro;
    ro.capacity = 4;
    sim::ReplayResult r = replay(p, trace, ro);
    for (size_t e = 1; e < trace.size(); ++e) EXPECT_EQ(r.hits[e], 4u) << "epoch " << e + 1;
    EXPECT_EQ(p.epoch(), 6u) << "boundaries detected passively";
  }
}

TEST(EpochAwareTest, DetectsEachBoundaryOnceOnLargerTraces) {
  EpochTrace trace = makeEpochTrace(1000, 5, 9);
  EpochAware p;
  ReplayOptions ro;
  ro.capacity = 300;
  sim::ReplayResult r = replay(p, trace, ro);
  EXPECT_EQ(p.epoch(), 5u);
  EXPECT_DOUBLE_EQ(r.steadyHitRatio(), 0.3);
}

// Parallel readers: the reads around each boundary are shuffled within a window of 16, so
// the next epoch's first reads come before the previous epoch's last ones.
TEST(EpochAwareTest, BoundaryIsRobustToReorderedReads) {
  constexpr size_t kN = 1000, kC = 500, kE = 5, kWindow = 16;
  EpochTrace trace = makeEpochTrace(kN, kE, 4);
  std::mt19937_64 rng(5);
  for (size_t e = 1; e < kE; ++e) {
    std::vector<BlockId> around(trace[e - 1].end() - kWindow, trace[e - 1].end());
    around.insert(around.end(), trace[e].begin(), trace[e].begin() + kWindow);
    std::shuffle(around.begin(), around.end(), rng);
    std::copy(around.begin(), around.begin() + kWindow, trace[e - 1].end() - kWindow);
    std::copy(around.begin() + kWindow, around.end(), trace[e].begin());
  }
  EpochAware p;
  ReplayOptions ro;
  ro.capacity = kC;
  sim::ReplayResult r = replay(p, trace, ro);
  EXPECT_EQ(p.epoch(), kE);
  EXPECT_GT(r.steadyHitRatio(), 0.49);  // 0.5 without reordering
  EXPECT_LE(r.steadyHitRatio(), 0.5 + 2.0 * kWindow / kN);
}

TEST(EpochAwareTest, DuplicateReadsDoNotEndTheEpoch) {
  EpochTrace trace = makeEpochTrace(100, 3, 6);
  for (auto& perm : trace) {
    std::vector<BlockId> twice;
    for (BlockId id : perm) {
      twice.push_back(id);
      twice.push_back(id);  // e.g. a header read again right away
    }
    perm = twice;
  }
  EpochAware p;
  ReplayOptions ro;
  ro.capacity = 30;
  (void)replay(p, trace, ro);
  EXPECT_EQ(p.epoch(), 3u);
}

TEST(EpochAwareTest, PrefetchNamesKnownUncachedUnreadBlocksOnce) {
  EpochAware p;
  for (BlockId id = 1; id <= 6; ++id) readMiss(p, id, id <= 3);
  EXPECT_EQ(p.nextPrefetch(1), std::nullopt) << "everything known was read this epoch";
  p.onEpoch(2);
  EXPECT_EQ(p.pendingBlocks(), 3u);
  EXPECT_EQ(p.nextPrefetch(0), std::nullopt) << "no room and no read block to evict";
  std::set<BlockId> named;
  while (std::optional<BlockId> id = p.nextPrefetch(1)) {
    EXPECT_TRUE(named.insert(*id).second) << "named twice: " << *id;
  }
  EXPECT_EQ(named, (std::set<BlockId>{4, 5, 6}));
  p.onPrefetchAbandoned(5);
  EXPECT_EQ(p.nextPrefetch(1), 5u);
  // The reader reaches 4 while it is in flight: once it lands it is a read block, a victim.
  p.onMiss(4);
  p.onPrefetched(4, 1);
  EXPECT_EQ(p.pickVictim(), 4u);
  // 6 lands unread: not a victim; a read of a cached block makes room for prefetch.
  p.onPrefetched(6, 1);
  p.onAccess(1);
  EXPECT_EQ(p.pickVictim(), 4u);
  EXPECT_EQ(p.size(), 5u);
  // Erasing an unread block makes it a candidate again.
  p.onErase(6);
  EXPECT_EQ(p.nextPrefetch(1), 6u);
}

// With prefetch every block is fetched at most once per epoch: origin traffic stays at the
// floor 1 - c, and the hit ratio beats the demand bound c.
TEST(EpochAwareTest, PrefetchBeatsTheDemandBoundWithoutRefetching) {
  EpochTrace trace = makeEpochTrace(2000, 4, 7);
  EpochAware p;
  ReplayOptions ro;
  ro.capacity = 1000;
  ro.bandwidth = 0.5;
  sim::ReplayResult r = replay(p, trace, ro);
  EXPECT_GT(r.steadyHitRatio(), 0.78);  // sim.py pf_epoch B=0.5: 0.815
  EXPECT_LE(r.steadyHitRatio(), 0.8466);  // c (1 + H_N - H_C)
  EXPECT_LE(r.steadyOriginPerRead(), 0.5 + 1e-3);
}

// Listing-driven prefetch: blocks listed in a directory being read are candidates before
// their first read, in the first epoch too.
TEST(EpochAwareTest, DiscoveredBlocksArePrefetchCandidatesBeforeTheirFirstRead) {
  EpochAware p;
  readMiss(p, 1, true);
  for (BlockId id : {1, 2, 3, 4}) p.onDiscovered(id);  // 1 is known already: unchanged
  EXPECT_EQ(p.knownBlocks(), 1u);
  EXPECT_EQ(p.discoveredBlocks(), 3u);
  EXPECT_EQ(p.pendingBlocks(), 3u);
  std::set<BlockId> named;
  for (int i = 0; i < 3; ++i) {
    std::optional<BlockId> id = p.nextPrefetch(100);
    ASSERT_TRUE(id.has_value());
    named.insert(*id);
    p.onPrefetched(*id, 1);
  }
  EXPECT_EQ(named, (std::set<BlockId>{2, 3, 4}));
  EXPECT_EQ(p.nextPrefetch(100), std::nullopt);
  // Prefetched and unread: not victims.
  EXPECT_EQ(p.pickVictim(), 1u);
  p.onAccess(3);
  EXPECT_EQ(p.discoveredBlocks(), 2u);
  EXPECT_EQ(p.knownBlocks(), 2u);
  EXPECT_EQ(p.readsThisEpoch(), 2u);
}

TEST(EpochAwareTest, DiscoveredBlocksDoNotCountTowardsTheEpochBoundary) {
  EpochAware p;
  for (BlockId id = 1; id <= 10; ++id) readMiss(p, id, true);
  for (BlockId id = 11; id <= 100; ++id) p.onDiscovered(id);
  // Every block read so far was read this epoch: a re-read ends it, although 90 listed
  // blocks were never read (counted as known, they would hold the epoch open).
  p.onAccess(1);
  EXPECT_EQ(p.epoch(), 2u);
}

TEST(EpochAwareTest, DiscoveredBlocksLeftUnreadByAnEpochAreDroppedAndEvictedFirst) {
  EpochAware p;
  for (BlockId id : {1, 2, 3, 4}) p.onDiscovered(id);
  std::set<BlockId> fetched;
  while (fetched.size() < 3) {
    std::optional<BlockId> id = p.nextPrefetch(100);
    ASSERT_TRUE(id.has_value());
    if (*id == 4) {  // 4 stays uncached
      p.onPrefetchAbandoned(4);
      continue;
    }
    p.onPrefetched(*id, 1);
    fetched.insert(*id);
  }
  p.onAccess(1);
  p.onAccess(2);
  p.onEpoch(2);
  // 3 (cached) and 4 (not) were listed but not read in epoch 1: 3 is the first victim, 4 no
  // longer a candidate; 1 and 2 are unread in epoch 2 and kept.
  EXPECT_EQ(p.pickVictim(), 3u);
  EXPECT_TRUE(p.shouldAdmit(1, 1));
  EXPECT_FALSE(p.shouldAdmit(1, 2));
  EXPECT_EQ(p.nextPrefetch(100), std::nullopt);
  EXPECT_EQ(p.pendingBlocks(), 0u);
  // Read after all (a different subset this epoch): an ordinary read block now. (Read after
  // another one: the first read of a new epoch could be a late read of the last.)
  p.onAccess(1);
  p.onAccess(3);
  EXPECT_EQ(p.discoveredBlocks(), 1u);
  EXPECT_EQ(p.pickVictim(), 1u);
  p.onErase(1);
  EXPECT_EQ(p.pickVictim(), 3u);
  p.onErase(3);
  EXPECT_EQ(p.pickVictim(), std::nullopt);
  EXPECT_EQ(p.size(), 1u);
}

}  // namespace
}  // namespace epochfs::policy
