// BlockRegistry alone: ids, what each block keeps, new versions, and the repeat filter.
#include "cache/BlockRegistry.h"

#include <string>

#include <gtest/gtest.h>

#include "cache/Grain.h"
#include "cache/Index.h"

namespace epochfs::cache {
namespace {

constexpr uint32_t kLength = 4096;
constexpr uint64_t kFuseRead = 128 * 1024;  // one FUSE read into a large block
// The repeat window: min(16, blocks / 8).
constexpr uint64_t kMaxWindow = 16;

// Registers block `blockNo` of `fileKey` with version `etag`.
BlockRegistry::Registration addBlock(BlockRegistry& r, std::string_view fileKey,
                                     uint64_t blockNo, const std::string& etag = "v1",
                                     uint32_t length = kLength) {
  return r.add(blockKey(fileKey, blockNo), fileKey, blockNo, etag, length);
}

// A registry of `n` blocks of one file, ids 1..n.
void addBlocks(BlockRegistry& r, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) addBlock(r, "data/train.bin", i);
}

TEST(BlockRegistryTest, IdsAreDenseFromOneAndTheSameBlockKeepsItsId) {
  BlockRegistry r;
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(r.contains(0));
  EXPECT_FALSE(r.contains(1));

  const BlockRegistry::Registration a = addBlock(r, "a", 0);
  const BlockRegistry::Registration b = addBlock(r, "a", 1);
  const BlockRegistry::Registration c = addBlock(r, "b", 0);
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(c.id, 3u);
  EXPECT_TRUE(a.added && b.added && c.added);
  EXPECT_FALSE(a.replacedEtag);

  const BlockRegistry::Registration again = addBlock(r, "a", 1);
  EXPECT_EQ(again.id, 2u);
  EXPECT_FALSE(again.added);
  EXPECT_EQ(r.size(), 3u);
  EXPECT_FALSE(r.contains(0)) << "0 is no id";
  EXPECT_TRUE(r.contains(3));
  EXPECT_FALSE(r.contains(4));
}

TEST(BlockRegistryTest, ABlockKeepsItsFileKeyBlockNumberAndIndexKey) {
  BlockRegistry r;
  const PolicyId id = addBlock(r, "imagenet/train/00042.tar", 7, "etag-1", 1234).id;
  // Enough further blocks that the map rehashes: the key a block points at must stay put.
  addBlocks(r, 1000);
  const BlockRegistry::Block& b = r.at(id);
  EXPECT_EQ(b.fileKey(), "imagenet/train/00042.tar");
  EXPECT_EQ(b.blockNo, 7u);
  EXPECT_EQ(*b.key, blockKey("imagenet/train/00042.tar", 7));
  EXPECT_EQ(b.etag, "etag-1");
  EXPECT_EQ(b.length, 1234u);
  EXPECT_FALSE(b.prefetchedUnread);
  EXPECT_FALSE(b.prefetchFailed);
  EXPECT_EQ(b.lastReadSeq, 0u) << "not read yet";
}

TEST(BlockRegistryTest, ABlockAddedByItsIndexKeyIsSplitIntoFileKeyAndBlockNumber) {
  BlockRegistry r;
  const std::string key = blockKey("dir/shard-3", 300);
  const BlockRegistry::Registration reg = r.addByKey(key, "e", 99);
  EXPECT_TRUE(reg.added);
  const BlockRegistry::Block& b = r.at(reg.id);
  EXPECT_EQ(b.fileKey(), "dir/shard-3");
  EXPECT_EQ(b.blockNo, 300u);
  EXPECT_EQ(*b.key, key);
  EXPECT_EQ(b.length, 99u);
  // The same block added by its parts is the same block.
  EXPECT_EQ(addBlock(r, "dir/shard-3", 300, "e", 99).id, reg.id);
  EXPECT_EQ(r.size(), 1u);
}

TEST(BlockRegistryTest, ANewVersionReturnsTheReplacedOneAndClearsPrefetchFailed) {
  BlockRegistry r;
  const PolicyId id = addBlock(r, "f", 0, "v1").id;
  r.at(id).prefetchFailed = true;

  BlockRegistry::Registration reg = addBlock(r, "f", 0, "v2");
  EXPECT_EQ(reg.id, id);
  EXPECT_FALSE(reg.added);
  ASSERT_TRUE(reg.replacedEtag);
  EXPECT_EQ(*reg.replacedEtag, "v1");
  EXPECT_EQ(r.at(id).etag, "v2");
  EXPECT_FALSE(r.at(id).prefetchFailed) << "the origin may serve the new version";

  reg = addBlock(r, "f", 0, "v1");
  ASSERT_TRUE(reg.replacedEtag) << "going back is a new version too";
  EXPECT_EQ(*reg.replacedEtag, "v2");
}

TEST(BlockRegistryTest, TheSameVersionReplacesNothingAndKeepsPrefetchFailed) {
  BlockRegistry r;
  const PolicyId id = addBlock(r, "f", 0, "v1").id;
  r.at(id).prefetchFailed = true;
  const BlockRegistry::Registration reg = addBlock(r, "f", 0, "v1");
  EXPECT_FALSE(reg.replacedEtag);
  EXPECT_EQ(r.at(id).etag, "v1");
  EXPECT_TRUE(r.at(id).prefetchFailed);
}

TEST(BlockRegistryTest, TheLengthFollowsTheLatestRegistration) {
  BlockRegistry r;
  const PolicyId id = addBlock(r, "f", 2, "v1", 100).id;
  addBlock(r, "f", 2, "v1", 200);
  EXPECT_EQ(r.at(id).length, 200u) << "same version";
  addBlock(r, "f", 2, "v2", 50);
  EXPECT_EQ(r.at(id).length, 50u) << "new version";
}

TEST(BlockRegistryTest, AReadContinuingFurtherIntoTheBlockIsARepeat) {
  BlockRegistry r;
  addBlocks(r, 1);  // window min(16, 1 / 8) == 0: only the offset decides
  EXPECT_TRUE(r.noteRead(1, 0)) << "the first read is news";
  EXPECT_FALSE(r.noteRead(1, kFuseRead));
  EXPECT_FALSE(r.noteRead(1, 2 * kFuseRead));
  EXPECT_TRUE(r.noteRead(1, 0)) << "back at the start: the next epoch";
  EXPECT_TRUE(r.noteRead(1, 0)) << "outside the window, the same offset is news";
}

// A grain (a file read at random) is read once both its ends were, in any order and by any
// reads: records that end and begin in it, or the page-sized reads of one record.
TEST(BlockRegistryTest, AGrainIsReadOnceBothItsEndsWere) {
  BlockRegistry r;
  constexpr uint32_t kGrain = 64 * 1024;
  const PolicyId g = addBlock(r, "h5", grain::make(16, 3), "v1", kGrain).id;
  EXPECT_TRUE(r.noteRead(g, 0, kGrain)) << "one read of all of it";
  EXPECT_FALSE(r.noteRead(g, 40000, kGrain - 40000)) << "the record beginning in it: its tail";
  EXPECT_TRUE(r.noteRead(g, 0, 40000)) << "then the one ending in it: its head";
  EXPECT_FALSE(r.noteRead(g, 0, 4096)) << "pages in order: the first";
  for (uint32_t at = 4096; at + 4096 < kGrain; at += 4096) EXPECT_FALSE(r.noteRead(g, at, 4096));
  EXPECT_TRUE(r.noteRead(g, kGrain - 4096, 4096)) << "the last page";
}

TEST(BlockRegistryTest, AContinuedReadIsARepeatHoweverManyReadsCameBetween) {
  BlockRegistry r;
  addBlocks(r, 200);
  EXPECT_TRUE(r.noteRead(1, 0));
  for (PolicyId other = 2; other <= 100; ++other) r.noteRead(other, 0);
  EXPECT_FALSE(r.noteRead(1, kFuseRead));
}

TEST(BlockRegistryTest, AReadWithinTheWindowIsARepeatAndOneJustAfterIsNew) {
  BlockRegistry r;
  addBlocks(r, 8 * kMaxWindow * 4);  // window 16 (capped)
  const PolicyId a = 1;
  const PolicyId b = 2;
  PolicyId other = 3;

  EXPECT_TRUE(r.noteRead(a, 0));
  for (uint64_t i = 0; i < kMaxWindow - 1; ++i) r.noteRead(other++, 0);
  EXPECT_FALSE(r.noteRead(a, 0)) << "16 reads after the last: within the window";

  EXPECT_TRUE(r.noteRead(b, 0));
  for (uint64_t i = 0; i < kMaxWindow; ++i) r.noteRead(other++, 0);
  EXPECT_TRUE(r.noteRead(b, 0)) << "17 reads after the last: past the window";
}

TEST(BlockRegistryTest, TheWindowIsAnEighthOfTheBlocksForASmallDataset) {
  BlockRegistry r;
  addBlocks(r, 16);  // window 16 / 8 == 2
  EXPECT_TRUE(r.noteRead(1, 0));
  r.noteRead(2, 0);
  EXPECT_FALSE(r.noteRead(1, 0)) << "2 reads after the last";
  r.noteRead(2, 0);
  r.noteRead(3, 0);
  EXPECT_TRUE(r.noteRead(1, 0)) << "3 reads after the last: a 16-block epoch is not a repeat";
}

TEST(BlockRegistryTest, AReadAtOrBeforeTheLastOffsetAfterTheWindowIsNew) {
  BlockRegistry r;
  addBlocks(r, 16);  // window 2
  EXPECT_TRUE(r.noteRead(1, 3 * kFuseRead));
  r.noteRead(2, 0);
  r.noteRead(3, 0);
  EXPECT_TRUE(r.noteRead(1, 3 * kFuseRead)) << "the same offset";
  r.noteRead(2, 0);
  r.noteRead(3, 0);
  EXPECT_TRUE(r.noteRead(1, kFuseRead)) << "an earlier offset";
}

TEST(BlockRegistryTest, AnyReadClearsPrefetchedUnread) {
  BlockRegistry r;
  addBlocks(r, 2);
  r.at(1).prefetchedUnread = true;
  r.at(2).prefetchedUnread = true;
  EXPECT_TRUE(r.noteRead(1, 0));
  EXPECT_FALSE(r.at(1).prefetchedUnread);
  EXPECT_TRUE(r.at(2).prefetchedUnread) << "another block's read leaves it";
  r.at(1).prefetchedUnread = true;
  EXPECT_FALSE(r.noteRead(1, kFuseRead)) << "a repeat";
  EXPECT_FALSE(r.at(1).prefetchedUnread) << "a repeat is a read of the block all the same";
}

TEST(BlockRegistryTest, ReadSeqCountsEveryReadRepeatsIncluded) {
  BlockRegistry r;
  addBlocks(r, 3);
  EXPECT_EQ(r.readSeq(), 0u);
  r.noteRead(1, 0);
  r.noteRead(1, kFuseRead);  // a repeat
  r.noteRead(3, 0);
  EXPECT_EQ(r.readSeq(), 3u);
  EXPECT_EQ(r.at(1).lastReadSeq, 2u);
  EXPECT_EQ(r.at(1).lastInOffset, kFuseRead);
  EXPECT_EQ(r.at(3).lastReadSeq, 3u);
  EXPECT_EQ(r.at(2).lastReadSeq, 0u);
}

}  // namespace
}  // namespace epochfs::cache
