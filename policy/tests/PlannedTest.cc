// policy/tests/PlannedTest.cc
#include "policy/Planned.h"

#include <gtest/gtest.h>

#include "policy/sim/Replay.h"

namespace epochfs::policy {
namespace {

using sim::EpochTrace;
using sim::makeEpochTrace;
using sim::replay;
using sim::ReplayOptions;

TEST(PlannedTest, PrefetchFollowsThePlanIntoFreeRoom) {
  Planned p;
  p.addPlan({5, 3, 7, 1});
  EXPECT_EQ(p.nextPrefetch(4), 5u);
  EXPECT_EQ(p.nextPrefetch(3), 3u);  // 5 is in flight
  p.onPrefetched(5, 1);
  p.onPrefetchAbandoned(3);
  EXPECT_EQ(p.nextPrefetch(2), 3u);  // abandoned: named again
  EXPECT_EQ(p.nextPrefetch(2), 7u);
  EXPECT_EQ(p.nextPrefetch(1), 1u);
  EXPECT_EQ(p.nextPrefetch(1), std::nullopt);  // the plan is exhausted
}

// Readers waiting on the origin are about to fetch the next blocks themselves: prefetch starts
// after as many planned reads, so that readers and prefetchers fetch different blocks.
TEST(PlannedTest, PrefetchLeavesTheNextBlocksToWaitingReaders) {
  Planned p;
  p.addPlan({1, 2, 3, 4, 5, 6, 7, 8});
  p.onPrefetchLead(3);
  EXPECT_EQ(p.nextPrefetch(9), 4u);
  EXPECT_EQ(p.nextPrefetch(9), 5u);
  p.onMiss(1);  // the readers move on: the cursor passes 1
  p.onPrefetchLead(0);
  EXPECT_EQ(p.nextPrefetch(9), 6u) << "never back behind what was already prefetched";
  p.onPrefetchLead(5);
  EXPECT_EQ(p.nextPrefetch(9), 7u);
  EXPECT_EQ(p.nextPrefetch(9), 8u);
  EXPECT_EQ(p.nextPrefetch(9), std::nullopt);
}

TEST(PlannedTest, LookaheadLimitsHowFarPrefetchRuns) {
  PlannedOptions o;
  o.lookahead = 2;
  Planned p(o);
  p.addPlan({1, 2, 3, 4});
  EXPECT_EQ(p.nextPrefetch(9), 1u);
  EXPECT_EQ(p.nextPrefetch(9), 2u);
  EXPECT_EQ(p.nextPrefetch(9), std::nullopt);
  p.onPrefetched(1, 1);
  p.onAccess(1);  // the reader moves on
  EXPECT_EQ(p.nextPrefetch(9), 3u);
}

// The epoch rule: a cached block needed later in the same epoch is not evicted for a prefetch
// (that would cost its refetch), even though its use is farther than the prefetched block's.
TEST(PlannedTest, PrefetchNeverEvictsABlockNeededLaterThisEpoch) {
  Planned p;
  p.addPlan({1, 3, 2});
  p.onPrefetched(1, 1);
  p.onPrefetched(2, 1);
  EXPECT_EQ(p.nextPrefetch(0), std::nullopt);  // 2 is needed at 2 > 1, but in this epoch
  p.onAccess(1);  // 1 is not needed again in any plan: the victim
  EXPECT_EQ(p.nextPrefetch(0), 3u);
  EXPECT_TRUE(p.shouldAdmitPrefetch(3, 1, 1));
  EXPECT_EQ(p.pickVictim(), 1u);
}

TEST(PlannedTest, VictimNeededInTheNextPlannedEpochIsAllowed) {
  Planned p;
  p.addPlan({1, 2, 3});
  p.addPlan({3, 1, 2});
  p.onPrefetched(1, 1);
  p.onPrefetched(2, 1);
  EXPECT_EQ(p.nextPrefetch(0), std::nullopt);  // both needed in epoch 1
  p.onAccess(1);  // next use of 1: position 4, in epoch 2
  EXPECT_EQ(p.nextPrefetch(0), 3u);
  EXPECT_TRUE(p.shouldAdmitPrefetch(3, 1, 1));
  EXPECT_EQ(p.pickVictim(), 1u);
  EXPECT_EQ(p.cursor(), 1u);
}

// Demand misses are admitted MIN-style: only by evicting a block needed after the missed one.
TEST(PlannedTest, DemandMissEvictsOnlyABlockNeededLater) {
  {
    Planned p;
    p.addPlan({1, 2, 3, 1, 2, 3});
    for (BlockId id : {1, 2}) {
      p.onMiss(id);
      ASSERT_TRUE(p.shouldAdmit(1, 0));
      p.onInsert(id, 1);
    }
    p.onMiss(3);  // next use 5; the cached blocks are needed at 3 and 4
    EXPECT_FALSE(p.shouldAdmit(1, 1));
  }
  {
    Planned p;
    p.addPlan({1, 2, 3, 3, 1, 2});
    for (BlockId id : {1, 2}) {
      p.onMiss(id);
      p.onInsert(id, 1);
    }
    p.onMiss(3);  // next use 3; 2 is needed at 5
    EXPECT_TRUE(p.shouldAdmit(1, 1));
    EXPECT_EQ(p.pickVictim(), 2u);
  }
}

TEST(PlannedTest, WithoutAPlanItKeepsWhatItHas) {
  Planned p;
  p.onMiss(1);
  p.onInsert(1, 1);
  p.onMiss(2);
  EXPECT_FALSE(p.shouldAdmit(1, 1));
  EXPECT_EQ(p.nextPrefetch(5), std::nullopt);
}

// Demand only with the plan (MIN with bypass): exactly C hits per epoch, the demand bound.
TEST(PlannedTest, DemandOnlyWithPlanServesExactlyTheCache) {
  EpochTrace trace = makeEpochTrace(8, 4, 3);
  Planned p;
  ReplayOptions ro;
  ro.capacity = 4;
  ro.plan = true;
  sim::ReplayResult r = replay(p, trace, ro);
  for (size_t e = 1; e < trace.size(); ++e) EXPECT_EQ(r.hits[e], 4u) << "epoch " << e + 1;
}

// With budget B the plan serves min(1, c + B), at the minimum origin traffic 1 - c.
TEST(PlannedTest, PrefetchReachesCPlusBAtTheOriginFloor) {
  EpochTrace trace = makeEpochTrace(400, 4, 8);
  for (double b : {0.25, 0.5}) {
    for (size_t ahead : {0, 1}) {
      Planned p;
      ReplayOptions ro;
      ro.capacity = 200;
      ro.bandwidth = b;
      ro.plan = true;
      ro.planAhead = ahead;
      sim::ReplayResult r = replay(p, trace, ro);
      // Published only at its epoch's start, the plan cannot choose what stays cached across
      // the boundary: a few misses (a constant per epoch, not a fraction) before prefetch
      // catches up.
      const double slack = ahead == 0 ? 0.03 : 0.005;
      EXPECT_NEAR(r.steadyHitRatio(), std::min(1.0, 0.5 + b), slack) << "B=" << b << " " << ahead;
      EXPECT_LE(r.steadyOriginPerRead(), 0.5 + 1e-9) << "B=" << b << " ahead " << ahead;
    }
  }
}

// A long run keeps only the plan epochs still ahead of (or just behind) the reader.
// A block read twice in an epoch (kernel read-ahead out of order, a re-read) does not move the
// cursor into the next epoch, where its next use is.
TEST(PlannedTest, SecondReadInAnEpochDoesNotJumpToTheNextEpoch) {
  std::vector<BlockId> one;
  for (BlockId id = 1; id <= 40; ++id) one.push_back(id);
  std::vector<BlockId> two(one.rbegin(), one.rend());
  Planned p;
  p.addPlan(one);
  p.addPlan(two);
  for (BlockId id = 1; id <= 5; ++id) p.onMiss(id);
  EXPECT_EQ(p.cursor(), 5u);
  p.onMiss(3);  // again: 35 reads of this epoch are still ahead
  EXPECT_EQ(p.cursor(), 5u);
  EXPECT_EQ(p.nextUse(3), 40u + 37u) << "its use in the second epoch is not consumed";
  EXPECT_EQ(p.nextUse(6), 5u) << "the first epoch's reads ahead are still planned";
  for (BlockId id = 6; id <= 40; ++id) p.onMiss(id);
  EXPECT_EQ(p.cursor(), 40u);
  p.onMiss(40);  // the second epoch begins
  EXPECT_EQ(p.cursor(), 41u);
}

// Each block's upcoming positions are a chain through the plan (Planned.cc): skipped
// positions, dropped epochs and a merge that cuts a chain in the middle must all leave the
// next use right.
TEST(PlannedTest, NextUsesSurviveSkipsDroppedEpochsAndMerges) {
  PlannedOptions o;
  o.reorderWindow = 2;
  Planned p(o);
  p.addPlan({1, 2, 3, 4, 5, 6}, 1);        // positions 0-5
  p.addPlan({7, 8, 9, 10, 11, 12}, 1);     // 6-11
  p.addPlan({3, 11, 14, 15, 16, 17}, 1);   // 12-17: blocks 3 and 11 again
  for (BlockId id : {1, 2, 4, 5, 6}) p.onMiss(id);  // 3 skipped
  EXPECT_EQ(p.cursor(), 6u);
  for (BlockId id : {7, 8, 9, 10, 12}) p.onMiss(id);  // 11 skipped
  EXPECT_EQ(p.cursor(), 12u);
  EXPECT_EQ(p.retainedPlan(), 12u) << "the first epoch went, with block 3's skipped position";
  EXPECT_EQ(p.nextUse(3), 12u);
  EXPECT_EQ(p.nextUse(11), 10u) << "within the reorder window: may still be read";
  // A second publisher joins the last epoch from the cursor on (interleaved 2:1): block 11's
  // chain is cut after 10 and grows again, block 3's is rebuilt.
  p.addPlan({21, 3, 22}, 2);
  EXPECT_EQ(p.planLength(), 21u);
  EXPECT_EQ(p.nextUse(11), 10u);
  EXPECT_EQ(p.nextUse(3), 12u);
  p.onMiss(3);
  EXPECT_EQ(p.cursor(), 13u);
  EXPECT_EQ(p.nextUse(11), 14u);
  EXPECT_EQ(p.nextUse(3), 16u);
  p.onMiss(3);
  EXPECT_EQ(p.cursor(), 17u);
  EXPECT_EQ(p.nextUse(3), Planned::kNever);
  EXPECT_EQ(p.nextUse(22), 19u);
}

TEST(PlannedTest, ConsumedPlanEpochsAreDropped) {
  EpochTrace trace = makeEpochTrace(100, 40, 2);
  PlannedOptions o;
  o.reorderWindow = 64;  // an epoch goes once the reader is this far past its end
  Planned p(o);
  ReplayOptions ro;
  ro.capacity = 50;
  ro.bandwidth = 0.5;
  ro.plan = true;
  ro.planAhead = 1;
  sim::ReplayResult r = replay(p, trace, ro);
  EXPECT_EQ(p.planLength(), 4000u);
  EXPECT_LE(p.retainedPlan(), 200u);
  EXPECT_GT(r.steadyHitRatio(), 0.99);
}

// Two readers' worth of reordering: the cursor still follows and the ratio holds.
TEST(PlannedTest, SmallReorderingKeepsProgress) {
  EpochTrace trace = makeEpochTrace(400, 4, 8);
  EpochTrace reordered = trace;
  for (auto& perm : reordered) {
    for (size_t i = 0; i + 1 < perm.size(); i += 2) std::swap(perm[i], perm[i + 1]);
  }
  Planned p;
  ReplayOptions ro;
  ro.capacity = 200;
  ro.bandwidth = 0.5;
  ro.plan = false;  // plans given by hand: the original order, read reordered
  for (size_t e = 0; e < trace.size(); ++e) p.addPlan(trace[e]);
  sim::ReplayResult r = replay(p, reordered, ro);
  EXPECT_GT(r.steadyHitRatio(), 0.98);
  EXPECT_EQ(p.cursor(), p.planLength());
}

// A publisher restarted mid-epoch sends the rest of that epoch: it replaces what the dead
// publisher had planned from the cursor on (the rest of this epoch and the epochs after),
// and continues the current plan epoch, so the reader's progress and the plan stay aligned.
TEST(PlannedTest, AResumedPlanReplacesEverythingFromTheCursorOn) {
  Planned p;
  p.addPlan({1, 2, 3, 4, 5, 6}, /*stream=*/1);
  p.addPlan({6, 5, 4, 3, 2, 1}, /*stream=*/1);  // the next epoch, planned ahead
  for (BlockId id : {1, 2}) p.onMiss(id);
  EXPECT_EQ(p.cursor(), 2u);
  // The new job resumes after 2 reads, in another order for the rest (its own draw).
  ASSERT_TRUE(p.resumePlan({5, 3, 6, 4}, /*stream=*/2));
  EXPECT_EQ(p.info().planRemaining, 4u);
  EXPECT_EQ(p.info().activePlans, 1u);
  EXPECT_EQ(p.plansDiscarded(), 1u) << "the epoch planned ahead was never begun";
  EXPECT_EQ(p.nextUse(5), 2u);
  EXPECT_EQ(p.nextUse(4), 5u);
  EXPECT_EQ(p.nextUse(1), Planned::kNever) << "nothing of the dead job's plan is left";
  EXPECT_EQ(p.nextPrefetch(9), 5u);
  for (BlockId id : {5, 3, 6, 4}) p.onMiss(id);
  EXPECT_EQ(p.cursor(), p.planLength());
  EXPECT_EQ(p.info().planRemaining, 0u);
  // The restarted job's next epoch is a plan of its own stream, a new plan epoch.
  ASSERT_TRUE(p.addPlan({1, 2}, /*stream=*/2));
  EXPECT_EQ(p.info().planRemaining, 2u);
  EXPECT_EQ(p.nextUse(1), 6u);
}

// With no plan epoch under way (none yet, or all read), a resumed plan is a plan.
TEST(PlannedTest, AResumedPlanWithNothingUnderWayIsAPlan) {
  Planned p;
  ASSERT_TRUE(p.resumePlan({7, 8}, 1));
  EXPECT_EQ(p.info().planRemaining, 2u);
  p.onMiss(7);
  p.onMiss(8);
  ASSERT_TRUE(p.resumePlan({9}, 2));
  EXPECT_EQ(p.info().planRemaining, 1u);
  EXPECT_EQ(p.plansDiscarded(), 0u);
}

}  // namespace
}  // namespace epochfs::policy
