// SpaceAccount's one formula, checked against numbers worked out by hand from its header:
//   limit headroom = limit - (cached + reserved + unlinking + held + meta + reserve)
//   disk headroom  = (avail - reserved) - (minFree + reserve)
#include "cache/SpaceAccount.h"

#include <optional>

#include <gtest/gtest.h>

#include "config/Options.h"

namespace epochfs::cache {
namespace {

using config::kGiB;
using config::kMiB;

constexpr uint64_t kLimit = 1000 * kMiB;
constexpr uint64_t kReserve = kLimit / 100;  // 10 MiB: between the 1 MiB floor and 64 MiB cap
constexpr uint64_t kMinFree = 100 * kMiB;
constexpr uint64_t kBlock = 4 * kMiB;
constexpr uint64_t kMeta = 3 * kMiB;
constexpr std::optional<uint64_t> kUnknownDisk = std::nullopt;
// A filesystem with plenty free: the disk never decides.
constexpr std::optional<uint64_t> kRoomyDisk = 100 * kGiB;

SpaceAccount makeAccount() { return SpaceAccount(kLimit, kMinFree, kBlock); }

TEST(SpaceAccountTest, MetadataReserveIsOnePercentOfTheCacheSizeBetweenOneAnd64MiB) {
  EXPECT_EQ(metadataReserve(0), 1 * kMiB);
  EXPECT_EQ(metadataReserve(16 * kMiB), 1 * kMiB) << "1% is 164 KiB: the floor holds";
  EXPECT_EQ(metadataReserve(100 * kMiB), 1 * kMiB);
  EXPECT_EQ(metadataReserve(200 * kMiB), 2 * kMiB);
  EXPECT_EQ(metadataReserve(kLimit), kReserve);
  EXPECT_EQ(metadataReserve(6400 * kMiB), 64 * kMiB);
  EXPECT_EQ(metadataReserve(10 * kGiB), 64 * kMiB) << "1% is 102 MiB: the cap holds";
  EXPECT_EQ(metadataReserve(1024 * kGiB), 64 * kMiB);
  EXPECT_EQ(makeAccount().metaReserve(), kReserve);
}

TEST(SpaceAccountTest, ABlockFitsWithoutEvictionUpToExactlyTheLimit) {
  SpaceAccount s = makeAccount();
  s.setMeta(kMeta);
  // Cached + meta + reserve + block == limit: fits, to the byte.
  s.addRecovered(kLimit - kMeta - kReserve - kBlock);
  SpaceAccount::Plan p = s.plan(kBlock, kRoomyDisk);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, 0u);
  // One byte more cached: that byte must go first.
  s.addRecovered(1);
  p = s.plan(kBlock, kRoomyDisk);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, 1u);
}

TEST(SpaceAccountTest, AFullCacheMustFreeWhatTheBlockLacksCountingReservedAndUnlinkingBytes) {
  SpaceAccount s = makeAccount();
  s.setMeta(kMeta);
  s.addRecovered(kLimit - kMeta - kReserve - kBlock / 2);  // half a block left
  EXPECT_EQ(s.plan(kBlock, kRoomyDisk).toFree, kBlock / 2);
  // A fill under way takes its space before it is written.
  s.reserve(kBlock);
  EXPECT_EQ(s.plan(kBlock, kRoomyDisk).toFree, kBlock / 2 + kBlock);
  // A dropped block's file counts until it is unlinked.
  s.unlinking(2 * kBlock);
  EXPECT_EQ(s.plan(kBlock, kRoomyDisk).toFree, kBlock / 2 + 3 * kBlock);
  s.unlinked(2 * kBlock);
  s.release(kBlock);
  const SpaceAccount::Plan p = s.plan(kBlock, kRoomyDisk);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, kBlock / 2);
}

TEST(SpaceAccountTest, ABlockIsImpossibleWhenMetadataReserveAndBlockAloneExceedTheLimit) {
  SpaceAccount s = makeAccount();
  s.setMeta(kLimit - kReserve - kBlock);
  SpaceAccount::Plan p = s.plan(kBlock, kRoomyDisk);
  EXPECT_TRUE(p.possible) << "metadata + reserve + block == limit still fits";
  EXPECT_EQ(p.toFree, 0u);

  s.setMeta(kLimit - kReserve - kBlock + 1);
  p = s.plan(kBlock, kRoomyDisk);
  EXPECT_FALSE(p.possible);
  EXPECT_FALSE(s.plan(kBlock, kUnknownDisk).possible);
  // Cached blocks do not help: evicting them leaves the metadata where it is.
  s.addRecovered(100 * kBlock);
  EXPECT_FALSE(s.plan(kBlock, kRoomyDisk).possible);
  EXPECT_TRUE(s.plan(kBlock - 1, kRoomyDisk).possible) << "a smaller block still fits";
}

TEST(SpaceAccountTest, AShortDiskIsPossibleOnlyWhenEvictingCachedBlocksCanMakeIt) {
  SpaceAccount s = makeAccount();
  // The disk lacks half a block beyond min_free + reserve; the limit is far away.
  const uint64_t avail = kMinFree + kReserve + kBlock / 2;
  SpaceAccount::Plan p = s.plan(kBlock, avail);
  EXPECT_FALSE(p.possible) << "nothing cached to evict";

  s.addRecovered(kBlock / 2 - 1);
  EXPECT_FALSE(s.plan(kBlock, avail).possible) << "evicting everything frees a byte too few";

  s.addRecovered(1);
  p = s.plan(kBlock, avail);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, kBlock / 2);

  // Exactly enough disk: nothing to free.
  p = s.plan(kBlock, kMinFree + kReserve + kBlock);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, 0u);
}

TEST(SpaceAccountTest, ReservedButUnwrittenBlocksTakeTheirDiskSpaceToo) {
  SpaceAccount s = makeAccount();
  s.addRecovered(10 * kBlock);
  const uint64_t avail = kMinFree + kReserve + 2 * kBlock;
  EXPECT_EQ(s.plan(kBlock, avail).toFree, 0u);
  s.reserve(2 * kBlock);  // not written yet: still in avail
  const SpaceAccount::Plan p = s.plan(kBlock, avail);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, kBlock);
  // More reserved than the disk has free: free space counts as zero, not as a wrap-around.
  s.reserve(avail);
  EXPECT_EQ(s.plan(kBlock, avail).toFree, kMinFree + kReserve + kBlock);
}

TEST(SpaceAccountTest, ToFreeIsTheLargerOfWhatTheLimitAndWhatTheDiskLack) {
  SpaceAccount s = makeAccount();
  s.addRecovered(kLimit - kReserve - kBlock + 1 * kMiB);  // the limit lacks 1 MiB
  EXPECT_EQ(s.plan(kBlock, kRoomyDisk).toFree, 1 * kMiB);
  // The disk lacks 2 MiB.
  EXPECT_EQ(s.plan(kBlock, kMinFree + kReserve + kBlock - 2 * kMiB).toFree, 2 * kMiB);
  // The disk lacks half a MiB: the limit's 1 MiB decides.
  EXPECT_EQ(s.plan(kBlock, kMinFree + kReserve + kBlock - kMiB / 2).toFree, 1 * kMiB);
}

TEST(SpaceAccountTest, AnUnknownDiskLeavesOnlyTheLimitToDecide) {
  SpaceAccount s = makeAccount();
  EXPECT_FALSE(s.plan(kBlock, 0).possible) << "an empty disk and nothing to evict";
  const SpaceAccount::Plan p = s.plan(kBlock, kUnknownDisk);
  EXPECT_TRUE(p.possible);
  EXPECT_EQ(p.toFree, 0u);
  EXPECT_EQ(s.room(kUnknownDisk), kLimit - kReserve);
  EXPECT_EQ(s.room(0), 0u);
}

TEST(SpaceAccountTest, RoomIsTheSmallerOfTheLimitAndTheDiskHeadroom) {
  SpaceAccount s = makeAccount();
  s.setMeta(kMeta);
  s.addRecovered(100 * kBlock);
  s.reserve(kBlock);
  s.unlinking(kBlock);
  const uint64_t limitRoom = kLimit - kMeta - kReserve - 100 * kBlock - kBlock - kBlock;
  EXPECT_EQ(s.room(kUnknownDisk), limitRoom);
  EXPECT_EQ(s.room(kRoomyDisk), limitRoom);
  // avail - reserved - minFree - reserve == 3 blocks.
  EXPECT_EQ(s.room(kMinFree + kReserve + kBlock + 3 * kBlock), 3 * kBlock);
}

TEST(SpaceAccountTest, RoomIsZeroWhenLessThanABlockIsLeft) {
  SpaceAccount s = makeAccount();
  s.addRecovered(kLimit - kReserve - kBlock);
  EXPECT_EQ(s.room(kUnknownDisk), kBlock) << "exactly one block is room";
  s.addRecovered(1);
  EXPECT_EQ(s.room(kUnknownDisk), 0u);
  EXPECT_EQ(s.room(kRoomyDisk), 0u);

  SpaceAccount d = makeAccount();
  EXPECT_EQ(d.room(kMinFree + kReserve + kBlock), kBlock);
  EXPECT_EQ(d.room(kMinFree + kReserve + kBlock - 1), 0u);
  EXPECT_EQ(d.room(kMinFree / 2), 0u) << "below min_free: negative headroom is no room";

  s.addRecovered(kGiB);
  EXPECT_EQ(s.room(kRoomyDisk), 0u) << "past the limit: negative headroom is no room";
}

TEST(SpaceAccountTest, OverLimitIsWhatCachedMetadataAndReserveExceedTheLimitBy) {
  SpaceAccount s = makeAccount();
  s.setMeta(kMeta);
  s.addRecovered(kLimit - kMeta - kReserve);
  EXPECT_EQ(s.overLimit(), 0u) << "exactly at the limit";
  s.addRecovered(5 * kBlock);
  EXPECT_EQ(s.overLimit(), 5 * kBlock);
  s.drop(2 * kBlock);
  s.unlinked(2 * kBlock);
  EXPECT_EQ(s.overLimit(), 3 * kBlock);
}

TEST(SpaceAccountTest, OverLimitCountsMetadataThatAloneExceedTheLimit) {
  SpaceAccount s = makeAccount();
  s.setMeta(kLimit + 7 * kMiB);
  EXPECT_EQ(s.overLimit(), 7 * kMiB + kReserve);
  s.addRecovered(kBlock);
  EXPECT_EQ(s.overLimit(), 7 * kMiB + kReserve + kBlock);
  EXPECT_FALSE(s.plan(kBlock, kUnknownDisk).possible);
  EXPECT_EQ(s.room(kUnknownDisk), 0u);
}

TEST(SpaceAccountTest, AFillMovesFromReservedToCachedOnCommitAndIsForgottenOnRelease) {
  SpaceAccount s = makeAccount();
  s.setMeta(kMeta);
  s.reserve(kBlock);
  s.reserve(2 * kBlock);
  EXPECT_EQ(s.reserved(), 3 * kBlock);
  EXPECT_EQ(s.cached(), 0u);
  EXPECT_EQ(s.usedBytes(), kMeta) << "reserved bytes are not on disk yet";
  EXPECT_EQ(s.room(kUnknownDisk), kLimit - kMeta - kReserve - 3 * kBlock);

  s.commit(kBlock);
  EXPECT_EQ(s.reserved(), 2 * kBlock);
  EXPECT_EQ(s.cached(), kBlock);
  EXPECT_EQ(s.usedBytes(), kMeta + kBlock);

  s.release(2 * kBlock);
  EXPECT_EQ(s.reserved(), 0u);
  EXPECT_EQ(s.cached(), kBlock);
  EXPECT_EQ(s.usedBytes(), kMeta + kBlock);
  EXPECT_EQ(s.unlinkingBytes(), 0u);
  EXPECT_EQ(s.room(kUnknownDisk), kLimit - kMeta - kReserve - kBlock);
}

TEST(SpaceAccountTest, ADroppedBlockHoldsItsSpaceUntilItsFileIsUnlinked) {
  SpaceAccount s = makeAccount();
  s.addRecovered(3 * kBlock);
  EXPECT_EQ(s.cached(), 3 * kBlock);
  const uint64_t roomBefore = s.room(kUnknownDisk);

  s.drop(kBlock);
  EXPECT_EQ(s.cached(), 2 * kBlock);
  EXPECT_EQ(s.usedBytes(), 2 * kBlock);
  EXPECT_EQ(s.unlinkingBytes(), kBlock);
  EXPECT_EQ(s.room(kUnknownDisk), roomBefore) << "the file is still there";

  // A failed fill whose file was written.
  s.reserve(kBlock);
  s.release(kBlock);
  s.unlinking(kBlock);
  EXPECT_EQ(s.unlinkingBytes(), 2 * kBlock);
  EXPECT_EQ(s.room(kUnknownDisk), roomBefore - kBlock);

  s.unlinked(2 * kBlock);
  EXPECT_EQ(s.unlinkingBytes(), 0u);
  EXPECT_EQ(s.room(kUnknownDisk), roomBefore + kBlock);
}

TEST(SpaceAccountTest, AHeldFileKeepsItsSpaceAfterItsUnlinkUntilItIsReleased) {
  SpaceAccount s = makeAccount();
  s.setMeta(kMeta);
  s.addRecovered(3 * kBlock);
  const uint64_t roomBefore = s.room(kUnknownDisk);
  const uint64_t toFreeBefore = s.plan(roomBefore + kBlock, kRoomyDisk).toFree;
  EXPECT_EQ(toFreeBefore, kBlock);

  // Evicted while handed out: dropped, then unlinked, but the kernel still has it open.
  s.drop(kBlock);
  s.unlinkedHeld(kBlock);
  EXPECT_EQ(s.cached(), 2 * kBlock);
  EXPECT_EQ(s.unlinkingBytes(), 0u);
  EXPECT_EQ(s.heldBytes(), kBlock);
  EXPECT_EQ(s.usedBytes(), 3 * kBlock + kMeta) << "the held file is on disk";
  EXPECT_EQ(s.room(kUnknownDisk), roomBefore) << "no room gained by the unlink";
  EXPECT_EQ(s.plan(roomBefore + kBlock, kRoomyDisk).toFree, toFreeBefore);

  // A second held file, released first: each goes on its own release.
  s.drop(kBlock);
  s.unlinkedHeld(kBlock);
  EXPECT_EQ(s.heldBytes(), 2 * kBlock);
  s.releasedHeld(kBlock);
  EXPECT_EQ(s.heldBytes(), kBlock);
  EXPECT_EQ(s.room(kUnknownDisk), roomBefore + kBlock) << "one held file is gone";
  s.releasedHeld(kBlock);
  EXPECT_EQ(s.heldBytes(), 0u);
  EXPECT_EQ(s.usedBytes(), kBlock + kMeta);
  EXPECT_EQ(s.room(kUnknownDisk), roomBefore + 2 * kBlock);
}

TEST(SpaceAccountTest, UsedBytesAreCachedBlocksPlusTheLatestMetadataMeasurement) {
  SpaceAccount s = makeAccount();
  s.addRecovered(2 * kBlock);
  s.setMeta(kMeta);
  EXPECT_EQ(s.meta(), kMeta);
  EXPECT_EQ(s.usedBytes(), 2 * kBlock + kMeta);
  s.setMeta(kMeta / 3);
  EXPECT_EQ(s.usedBytes(), 2 * kBlock + kMeta / 3) << "a measurement replaces the last one";
}

}  // namespace
}  // namespace epochfs::cache
