// CachedBlocks alone: entries by policy id, the oldest block file, checksums and versions.
#include "cache/CachedBlocks.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace epochfs::cache {
namespace {

using Entry = CachedBlocks::Entry;

constexpr uint32_t kSmall = 1000;  // one checksum chunk

// An entry in block file `file` of `length` bytes sharing the latest version seen, with
// checksums 1, 2, 3...
Entry makeEntry(uint64_t file, uint32_t length = kSmall,
                std::unique_ptr<std::string> ownEtag = nullptr) {
  std::vector<uint64_t> sums(chunkCount(length));
  for (size_t i = 0; i < sums.size(); ++i) sums[i] = i + 1;
  return Entry(BlockFileId{file}, length, std::move(ownEtag), sums);
}

TEST(CachedBlocksTest, AnInsertedBlockIsFoundUntilErased) {
  CachedBlocks c;
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.find(3), nullptr);
  c.insert(3, makeEntry(40, 777));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_FALSE(c.empty());
  const Entry* e = c.find(3);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->file, BlockFileId{40});
  EXPECT_EQ(e->length, 777u);
  EXPECT_EQ(e->allocated(), BlockStore::allocatedBytes(777));
  EXPECT_EQ(c.find(4), nullptr);
  const CachedBlocks& constC = c;
  EXPECT_EQ(constC.find(3), e);

  c.erase(3);
  EXPECT_EQ(c.find(3), nullptr);
  EXPECT_TRUE(c.empty());
}

TEST(CachedBlocksTest, TheOldestIsTheBlockInTheLowestBlockFileNotTheFirstInserted) {
  CachedBlocks c;
  EXPECT_FALSE(c.oldest().has_value());
  // Policy ids in one order, block files in another (a block registered early, filled late).
  c.insert(1, makeEntry(30));
  c.insert(2, makeEntry(10));
  c.insert(3, makeEntry(20));
  EXPECT_EQ(c.oldest(), PolicyId{2});
  c.erase(2);
  EXPECT_EQ(c.oldest(), PolicyId{3});
  c.erase(3);
  EXPECT_EQ(c.oldest(), PolicyId{1});
  c.erase(1);
  EXPECT_FALSE(c.oldest().has_value());
}

TEST(CachedBlocksTest, AnErasedBlocksFileIsForgottenWithIt) {
  CachedBlocks c;
  c.insert(1, makeEntry(10));
  c.insert(2, makeEntry(20));
  c.erase(1);
  // Another block in a file of the same id (ids are never reused, but the map must not keep
  // the erased block's).
  c.insert(5, makeEntry(10));
  EXPECT_EQ(c.oldest(), PolicyId{5});
  c.erase(5);
  EXPECT_EQ(c.oldest(), PolicyId{2});
}

TEST(CachedBlocksTest, ABlockOfOneChunkKeepsItsChecksumInline) {
  CachedBlocks c;
  const std::vector<uint64_t> sums = {0xabcdef0123456789ULL};
  c.insert(1, Entry(BlockFileId{1}, kSmall, nullptr, sums));
  const Entry* e = c.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->sums);
  EXPECT_EQ(e->sum0, sums[0]);
  const std::span<const uint64_t> got = e->checksums();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.data(), &e->sum0) << "the moved entry's own sum0, not the one moved from";
  EXPECT_EQ(got[0], sums[0]);

  const Entry whole(BlockFileId{2}, static_cast<uint32_t>(kChecksumChunk), nullptr, sums);
  EXPECT_FALSE(whole.sums) << "exactly one chunk is still inline";
  EXPECT_EQ(whole.checksums().size(), 1u);
}

TEST(CachedBlocksTest, ABlockOfManyChunksKeepsItsChecksumsOnTheHeap) {
  const auto length = static_cast<uint32_t>(2 * kChecksumChunk + 1);
  const std::vector<uint64_t> sums = {11, 22, 33};
  ASSERT_EQ(chunkCount(length), sums.size());
  CachedBlocks c;
  c.insert(1, Entry(BlockFileId{1}, length, nullptr, sums));
  const Entry* e = c.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->sums);
  const std::span<const uint64_t> got = e->checksums();
  EXPECT_EQ(std::vector<uint64_t>(got.begin(), got.end()), sums);
  EXPECT_NE(got.data(), sums.data()) << "a copy";
}

TEST(CachedBlocksTest, AnEmptyBlockHasNoChecksums) {
  const Entry e(BlockFileId{1}, 0, nullptr, {});
  EXPECT_TRUE(e.checksums().empty());
}

TEST(CachedBlocksTest, AnEntryCachesTheLatestVersionUnlessItHasItsOwn) {
  const std::string latest = "v2";
  const Entry shared = makeEntry(1);
  EXPECT_EQ(&shared.etag(latest), &latest) << "shared, not copied";
  const Entry own = makeEntry(2, kSmall, std::make_unique<std::string>("v1"));
  EXPECT_EQ(own.etag(latest), "v1");
}

TEST(CachedBlocksTest, AnEntrySharingTheOldVersionKeepsItsOwnCopyOfItOnANewVersion) {
  CachedBlocks c;
  c.insert(1, makeEntry(1));
  c.onNewVersion(1, "v1", "v2");
  const Entry* e = c.find(1);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->ownEtag);
  EXPECT_EQ(*e->ownEtag, "v1");
  EXPECT_EQ(e->etag("v2"), "v1");

  // A third version: the entry still caches the first.
  c.onNewVersion(1, "v2", "v3");
  EXPECT_EQ(e->etag("v3"), "v1");
}

TEST(CachedBlocksTest, AnEntryCachingTheNewVersionSharesItAgain) {
  CachedBlocks c;
  c.insert(1, makeEntry(1, kSmall, std::make_unique<std::string>("v1")));
  // The origin went back to v1 (latest seen v2 -> v1): the entry caches the latest again.
  c.onNewVersion(1, "v2", "v1");
  const Entry* e = c.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->ownEtag);
  const std::string latest = "v1";
  EXPECT_EQ(&e->etag(latest), &latest);
}

TEST(CachedBlocksTest, ANewVersionOfABlockNotCachedChangesNothing) {
  CachedBlocks c;
  c.insert(1, makeEntry(1));
  c.onNewVersion(2, "v1", "v2");
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.find(2), nullptr);
  EXPECT_FALSE(c.find(1)->ownEtag) << "another block's version is not this one's";
}

}  // namespace
}  // namespace epochfs::cache
