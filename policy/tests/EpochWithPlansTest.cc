// policy/tests/EpochWithPlansTest.cc: the daemon's "epoch" policy and plans from several
// publishers.
#include "policy/EpochWithPlans.h"

#include <gtest/gtest.h>

#include <vector>

namespace epochfs::policy {
namespace {

TEST(PlannedStreamsTest, SecondPublisherIsInterleavedIntoTheSameEpoch) {
  Planned p;
  EXPECT_TRUE(p.addPlan({1, 2, 3, 4}, /*stream=*/10));
  EXPECT_TRUE(p.addPlan({5, 6}, /*stream=*/20));
  EXPECT_EQ(p.planLength(), 6u);
  EXPECT_EQ(p.activeEpochs(), 1u);
  // In proportion: two of the first publisher's reads per one of the second's.
  std::vector<BlockId> got;
  for (int i = 0; i < 6; ++i) {
    std::optional<BlockId> id = p.nextPrefetch(100);
    ASSERT_TRUE(id);
    got.push_back(*id);
  }
  EXPECT_EQ(got, (std::vector<BlockId>{1, 5, 2, 3, 6, 4}));
}

TEST(PlannedStreamsTest, EachPublisherNextPlanGoesToTheFollowingEpoch) {
  Planned p;
  p.addPlan({1, 2}, 10);
  p.addPlan({3, 4}, 20);   // joins epoch 1
  p.addPlan({2, 1}, 10);   // epoch 2 (new)
  p.addPlan({4, 3}, 20);   // joins epoch 2
  p.addPlan({1, 2}, 10);   // epoch 3
  EXPECT_EQ(p.activeEpochs(), 3u);
  EXPECT_EQ(p.planLength(), 10u);
  // Block 3's next use is in epoch 1 and block 1's in epoch 1 too; after epoch 1 is read,
  // 4 and 3 come from stream 20's second plan in epoch 2.
  for (BlockId id : {1, 3, 2, 4}) p.onMiss(id);
  EXPECT_GE(p.nextUse(3), 4u);
  EXPECT_LT(p.nextUse(3), 8u);
}

TEST(PlannedStreamsTest, LatePublisherStartsANewEpochOncePastHalf) {
  Planned p;
  p.addPlan({1, 2, 3, 4}, 10);
  p.onMiss(1);
  p.onMiss(2);
  p.onMiss(3);  // the reader is past half of the only epoch
  p.addPlan({5, 6}, 20);
  EXPECT_EQ(p.activeEpochs(), 2u);
}

TEST(EpochWithPlansTest, WithoutAPlanItIsTheEpochPolicy) {
  EpochWithPlans p;
  EXPECT_EQ(p.name(), "epoch");
  EXPECT_FALSE(p.planActive());
  for (BlockId id : {1, 2, 3}) {
    p.onMiss(id);
    p.onInsert(id, 1);
  }
  // All three were read in this epoch: the oldest read is the victim, as in EpochAware.
  EXPECT_TRUE(p.shouldAdmit(1, 1));
  EXPECT_EQ(p.pickVictim(), 1u);
  EXPECT_EQ(p.info().epoch, 1u);
  EXPECT_FALSE(p.info().planActive);
}

TEST(EpochWithPlansTest, APlanTakesOverPrefetchAndVictimsUntilItIsReadThrough) {
  EpochWithPlans p;
  for (BlockId id : {1, 2, 3, 4}) p.onMiss(id);  // epoch 1, nothing cached
  ASSERT_TRUE(p.addPlan({4, 3, 2, 1}, 7));
  EXPECT_TRUE(p.planActive());
  EXPECT_EQ(p.info().activePlans, 1u);
  EXPECT_EQ(p.nextPrefetch(10), 4u);  // plan order, not a random unread block
  EXPECT_TRUE(p.shouldAdmitPrefetch(4, 1, 0));
  p.onPrefetched(4, 1);
  EXPECT_EQ(p.nextPrefetch(10), 3u);
  p.onPrefetched(3, 1);
  // Full: 3 and 4 are both needed this epoch, so the plan evicts neither.
  EXPECT_EQ(p.nextPrefetch(0), std::nullopt);
  for (BlockId id : {4, 3}) p.onAccess(id);
  EXPECT_EQ(p.nextPrefetch(0), 2u);  // 4 is read and never needed again: room for 2
  EXPECT_TRUE(p.shouldAdmitPrefetch(2, 1, 1));
  EXPECT_EQ(p.pickVictim(), 4u);
  p.onErase(4);
  p.onPrefetched(2, 1);
  p.onAccess(2);
  p.onMiss(1);
  EXPECT_FALSE(p.planActive());  // read through: back to the passive rules
  EXPECT_EQ(p.info().planRemaining, 0u);
}

}  // namespace
}  // namespace epochfs::policy
