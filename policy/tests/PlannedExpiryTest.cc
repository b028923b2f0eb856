// policy/tests/PlannedExpiryTest.cc: plan epochs that will not be read are dropped (Planned.h,
// "Expiry").
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "policy/EpochWithPlans.h"
#include "policy/Planned.h"

namespace epochfs::policy {
namespace {

std::vector<BlockId> range(BlockId first, BlockId count) {
  std::vector<BlockId> v(count);
  std::iota(v.begin(), v.end(), first);
  return v;
}

void readAll(Planned& p, const std::vector<BlockId>& order) {
  for (BlockId id : order) p.onMiss(id);
}

// A job that planned one epoch ahead and stopped: the plan of the epoch that never came goes
// once the reader is two epochs past its publication, and stops protecting cached blocks.
TEST(PlannedExpiryTest, APlanNotBegunTwoEpochsAfterItsPublicationIsDropped) {
  Planned p;
  const std::vector<BlockId> a = range(1, 40);    // epoch 1, read
  const std::vector<BlockId> b = range(101, 20);  // epoch 2, never read
  p.addPlan(a);
  p.addPlan(b);  // both published in reader epoch 1
  p.onInsert(105, 1);
  EXPECT_EQ(p.activeEpochs(), 2u);
  readAll(p, a);
  EXPECT_EQ(p.activeEpochs(), 1u);
  p.onReaderEpoch(2);
  readAll(p, a);  // epoch 2 reads the same blocks without a plan
  EXPECT_EQ(p.activeEpochs(), 1u) << "published in epoch 1: still wanted in epoch 2";
  EXPECT_EQ(p.plansDiscarded(), 0u);
  p.onReaderEpoch(3);
  for (size_t i = 0; i + 1 < Planned::kExpiryReads; ++i) p.onMiss(a[i]);
  EXPECT_EQ(p.activeEpochs(), 1u) << "the first reads of an epoch may still begin it";
  p.onMiss(a[Planned::kExpiryReads]);
  EXPECT_EQ(p.activeEpochs(), 0u);
  EXPECT_EQ(p.plansDiscarded(), 1u);
  EXPECT_EQ(p.info().plansDiscarded, 1u);
  EXPECT_EQ(p.nextUse(105), Planned::kNever) << "no longer protects its cached blocks";
  EXPECT_EQ(p.pickVictim(), 105u);
  EXPECT_EQ(p.nextPrefetch(100), std::nullopt) << "nor is it a prefetch candidate";
}

// The plan epoch after the reader's, published for it one epoch ahead, is begun by the first
// read of that epoch, which the epoch clock sees first: the grace keeps it.
TEST(PlannedExpiryTest, APlanPublishedOneEpochAheadSurvivesWhenItIsRead) {
  Planned p;
  const std::vector<BlockId> e1 = range(1, 40);
  std::vector<BlockId> e2 = e1;
  std::reverse(e2.begin(), e2.end());
  std::vector<BlockId> e3 = e1;
  std::rotate(e3.begin(), e3.begin() + 7, e3.end());
  p.addPlan(e1);
  p.addPlan(e2);  // plan_ahead = 1: epochs 1 and 2 at the start of epoch 1
  readAll(p, e1);
  p.addPlan(e3);  // the start of epoch 2, before its first read moves the clock
  p.onReaderEpoch(2);
  readAll(p, e2);
  p.onReaderEpoch(3);  // e3, published in reader epoch 1, begins right now
  readAll(p, e3);
  EXPECT_EQ(p.plansDiscarded(), 0u);
  EXPECT_EQ(p.cursor(), p.planLength());
}

// A new job reads the blocks of a stale plan in its own order: its reads land deep inside the
// plan epoch, never at its start, and after strayReads of them the plan epoch is dropped.
TEST(PlannedExpiryTest, APlanReadInAnotherOrderIsDropped) {
  PlannedOptions o;
  o.reorderWindow = 8;
  o.strayReads = 5;
  Planned p(o);
  const std::vector<BlockId> plan = range(1, 100);
  p.addPlan(plan);
  p.onInsert(50, 1);
  const std::vector<BlockId> other = {90, 40, 71, 33};  // deep inside, not in plan order
  for (BlockId id : other) p.onMiss(id);
  EXPECT_EQ(p.cursor(), 0u) << "reads deep inside a plan epoch do not begin it";
  EXPECT_EQ(p.activeEpochs(), 1u);
  EXPECT_EQ(p.nextUse(50), 49u);
  p.onMiss(20);
  EXPECT_EQ(p.plansDiscarded(), 1u);
  EXPECT_EQ(p.activeEpochs(), 0u);
  EXPECT_EQ(p.nextUse(50), Planned::kNever);
  EXPECT_EQ(p.nextPrefetch(100), std::nullopt);
}

// A reader that follows the plan, reordered within the window, never strays.
TEST(PlannedExpiryTest, AFollowingReaderIsNeverTakenForAStray) {
  PlannedOptions o;
  o.reorderWindow = 8;
  o.strayReads = 1;
  Planned p(o);
  std::mt19937_64 rng(7);
  for (int e = 0; e < 3; ++e) {
    std::vector<BlockId> order = range(1, 200);
    std::shuffle(order.begin(), order.end(), rng);
    p.addPlan(order);
    std::vector<BlockId> reads = order;
    for (size_t i = 0; i + 4 <= reads.size(); i += 4) {  // four readers
      std::shuffle(reads.begin() + static_cast<std::ptrdiff_t>(i),
                   reads.begin() + static_cast<std::ptrdiff_t>(i + 4), rng);
    }
    readAll(p, reads);
  }
  EXPECT_EQ(p.plansDiscarded(), 0u);
  EXPECT_EQ(p.cursor(), 600u);
}

// Dropping a stale plan epoch keeps a later one (a new job's plan) whole, at its new positions.
TEST(PlannedExpiryTest, ALaterPlanOutlivesAnOlderOneDroppedBeforeIt) {
  Planned p;
  const std::vector<BlockId> a = range(1, 30);
  p.addPlan(a, 1);
  p.addPlan(range(101, 30), 1);  // planned ahead by job 1, never read
  readAll(p, a);
  p.onReaderEpoch(2);
  readAll(p, a);
  const std::vector<BlockId> c = range(201, 30);
  p.addPlan(c, 1);  // job 1 again, in epoch 2
  EXPECT_EQ(p.activeEpochs(), 2u);
  p.onReaderEpoch(3);
  for (size_t i = 0; i < Planned::kExpiryReads; ++i) p.onMiss(a[i]);  // not planned any more
  EXPECT_EQ(p.plansDiscarded(), 1u);
  EXPECT_EQ(p.activeEpochs(), 1u);
  EXPECT_EQ(p.nextUse(201), 30u) << "moved down to where the dropped epoch began";
  EXPECT_EQ(p.nextUse(101), Planned::kNever);
  EXPECT_EQ(p.nextPrefetch(100), 201u);
  readAll(p, c);
  EXPECT_EQ(p.cursor(), p.planLength());
  p.addPlan(range(301, 5), 1);  // the stream's next plan starts a new epoch
  EXPECT_EQ(p.activeEpochs(), 1u);
  EXPECT_EQ(p.nextUse(301), 60u);
}

// In the daemon's policy, a dropped plan hands the decisions back to EpochAware at once.
TEST(PlannedExpiryTest, EpochWithPlansFallsBackOnceThePlanIsDropped) {
  EpochWithPlans p;
  const std::vector<BlockId> a = range(1, 40);
  p.addPlan(a, 1);
  p.addPlan(range(101, 40), 1);
  for (BlockId id : a) p.onMiss(id);
  for (int e = 2; e <= 3; ++e) {
    p.onReaderEpoch(static_cast<uint64_t>(e));
    EXPECT_TRUE(p.planActive());
    for (BlockId id : a) p.onMiss(id);
  }
  EXPECT_FALSE(p.planActive());
  EXPECT_EQ(p.plansDiscarded(), 1u);
  EXPECT_EQ(p.info().activePlans, 0u);
  EXPECT_EQ(p.info().plansDiscarded, 1u);
}

}  // namespace
}  // namespace epochfs::policy
