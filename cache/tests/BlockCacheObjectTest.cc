// Object files (BlockStore.h): the blocks of a file of many blocks in one sparse file, at
// their offsets. Filled block by block, evicted by punching, handed out whole (openWhole), a
// pinned file's evicted ranges kept until the last release, and recovery punching out what
// the index does not name.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/BlockStore.h"
#include "cache/tests/WholeFileTestFixture.h"
#include "config/Options.h"

namespace epochfs::cache::testing {
namespace {

class BlockCacheObjectTest : public WholeFileTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path() + "/probe");
    auto store = BlockStore::open(dir_.path() + "/probe");
    ASSERT_TRUE(store.isOk());
    if (!(*store)->punchesHoles()) GTEST_SKIP() << "the test dir's filesystem cannot punch holes";
  }
  std::string onlyFile() const {
    auto files = filesUnder(opts_.dir + "/blocks");
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? std::string() : files[0];
  }
  // Reads files of just under a block (block files) until `n` more blocks were evicted.
  void evictBlocks(BlockCache& c, uint64_t n, const std::string& prefix) {
    const uint64_t target = c.stats().evictions + n;
    for (int i = 0; c.stats().evictions < target; ++i) {
      ASSERT_LT(i, 10000);
      std::string bytes = randomBytes(kBlock - 1, 7000 + static_cast<uint64_t>(i));
      ASSERT_EQ(readAll(c, put(prefix + std::to_string(i), bytes)), bytes);
    }
  }
  static uint64_t allocated(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
  }
};

TEST_F(BlockCacheObjectTest, AFileOfManyBlocksIsOneObjectFileHandedOutWhole) {
  auto cache = open();
  const std::string bytes = randomBytes(3 * kBlock + 10, 1);
  FileRef f = put("big", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  const std::string path = onlyFile();
  EXPECT_EQ(std::filesystem::file_size(path), f.size) << "each block at its offset";
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), 4u);
  EXPECT_EQ(cache->stats().blocks, 4u);

  const CacheStats before = cache->stats();
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  const CacheStats after = cache->stats();
  EXPECT_EQ(after.whole.opens, 1u);
  EXPECT_EQ(after.whole.bytes, f.size);
  EXPECT_EQ(after.hits - before.hits, 4u) << "a hit of every block";
  EXPECT_EQ(originReads(), 4u);
  cache->releaseWhole(w.pin);
  EXPECT_EQ(cache->stats().whole.held, 0u);
}

TEST_F(BlockCacheObjectTest, APartlyCachedFileIsNotHandedOut) {
  auto cache = open();
  const std::string bytes = randomBytes(3 * kBlock, 2);
  FileRef f = put("part", bytes);
  ASSERT_EQ(*readRange(*cache, f, 0, kBlock), bytes.substr(0, kBlock));
  EXPECT_EQ(declined(*cache, f), WholeMiss::kNotCached);
  ASSERT_EQ(readAll(*cache, f), bytes);
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  cache->releaseWhole(w.pin);
  FileRef empty = put("empty", "");
  EXPECT_EQ(declined(*cache, empty), WholeMiss::kTooLarge);
}

TEST_F(BlockCacheObjectTest, ACorruptBlockOfAnObjectFileIsCaughtAtHandOutAndOnRead) {
  auto cache = open();
  const std::string bytes = randomBytes(4 * kBlock, 3);
  FileRef f = put("flip", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  corruptOnlyBlock(opts_.dir, 2 * kBlock + 777);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kCorrupt);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.checksumFailures, 1u);
  EXPECT_EQ(s.whole.corrupt, 1u);
  EXPECT_EQ(s.blocks, 3u) << "only the corrupt block dropped";
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), 3u) << "its range punched out";

  ASSERT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 5u) << "only it refetched";
  // On the read path too.
  corruptOnlyBlock(opts_.dir, kBlock + 5);
  EXPECT_EQ(*readRange(*cache, f, kBlock, kBlock), bytes.substr(kBlock, kBlock));
  s = cache->stats();
  EXPECT_EQ(s.checksumFailures, 2u);
  EXPECT_EQ(originReads(), 6u);
  EXPECT_EQ(s.blocks, 4u);
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  cache->releaseWhole(w.pin);
}

TEST_F(BlockCacheObjectTest, EvictedBlocksArePunchedOutAndTheRestStillRead) {
  opts_.sizeBytes = 8 * config::kMiB;
  auto cache = open("lru");
  const std::string bytes = randomBytes(32 * kBlock, 4);
  FileRef f = put("objects/big", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  const std::string path = onlyFile();
  const uint64_t full = allocated(path);
  ASSERT_GE(full, 32 * kBlock);

  evictBlocks(*cache, 6, "other/");  // the oldest: the big file's first blocks
  const CacheStats s = cache->stats();
  EXPECT_EQ(countBlocks(path, kBlock), 32u - s.evictions);
  EXPECT_LE(allocated(path), full - s.evictions * kBlock) << "the punched bytes are freed";
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), s.blocks) << "disk and memory agree";
  EXPECT_LE(diskUsage(opts_.dir), opts_.sizeBytes);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kNotCached);

  // The blocks left are still hits; the punched ones are refetched into the same file.
  const uint64_t reads = originReads();
  EXPECT_EQ(*readRange(*cache, f, 20 * kBlock, 4 * kBlock), bytes.substr(20 * kBlock, 4 * kBlock));
  EXPECT_EQ(originReads(), reads);
  EXPECT_EQ(*readRange(*cache, f, 0, kBlock), bytes.substr(0, kBlock));
  EXPECT_EQ(originReads(), reads + 1);
  EXPECT_TRUE(std::filesystem::exists(path)) << "refilled in place";
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), cache->stats().blocks);
}

TEST_F(BlockCacheObjectTest, APinnedObjectFileKeepsEvictedRangesUntilTheLastRelease) {
  opts_.sizeBytes = 8 * config::kMiB;
  auto cache = open("lru");
  const std::string bytes = randomBytes(16 * kBlock, 5);
  FileRef f = put("pinned/big", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  const std::string path = onlyFile();
  WholeFile w = handOut(*cache, f);

  evictBlocks(*cache, 4, "other/");
  CacheStats s = cache->stats();
  const uint64_t evicted = s.evictions;
  ASSERT_LT(evicted, 16u);
  EXPECT_EQ(countBlocks(path, kBlock), 16u) << "not punched while the kernel reads it";
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  EXPECT_EQ(s.whole.heldEvictedBytes, evicted * BlockStore::allocatedBytes(kBlock));
  EXPECT_LE(s.usedBytes, s.limitBytes) << "held ranges count against cache.size";

  cache->releaseWhole(w.pin);
  s = cache->stats();
  EXPECT_EQ(s.whole.held, 0u);
  EXPECT_EQ(s.whole.heldEvictedBytes, 0u);
  EXPECT_EQ(countBlocks(path, kBlock), 16u - evicted) << "punched at the release";
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), s.blocks);

  // Read again: refilled in the same file, handed out whole again.
  ASSERT_EQ(readAll(*cache, f), bytes);
  WholeFile again = handOut(*cache, f);
  EXPECT_EQ(readFd(again.fd, f.size), bytes);
  cache->releaseWhole(again.pin);
}

TEST_F(BlockCacheObjectTest, ABlockCachedAgainBeforeTheReleaseIsNotPunched) {
  opts_.sizeBytes = 8 * config::kMiB;
  auto cache = open("lru");
  const std::string bytes = randomBytes(16 * kBlock, 6);
  FileRef f = put("pinned/again", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  const std::string path = onlyFile();
  WholeFile w = handOut(*cache, f);
  evictBlocks(*cache, 2, "other/");
  // Blocks 0 and 1 were the oldest: read them again while the file is still pinned.
  ASSERT_EQ(*readRange(*cache, f, 0, 2 * kBlock), bytes.substr(0, 2 * kBlock));
  cache->releaseWhole(w.pin);
  const CacheStats s = cache->stats();
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), s.blocks) << "disk and memory agree";
  // Blocks 0 and 1 are still allocated in the file.
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), 0);
  EXPECT_GE(::lseek(fd, 0, SEEK_HOLE), static_cast<off_t>(2 * kBlock));
  ::close(fd);
  const uint64_t reads = originReads();
  EXPECT_EQ(*readRange(*cache, f, 0, 2 * kBlock), bytes.substr(0, 2 * kBlock));
  EXPECT_EQ(originReads(), reads) << "the refilled blocks kept their bytes through the release";
}

TEST_F(BlockCacheObjectTest, RecoveryPunchesOutRangesTheIndexDoesNotName) {
  const std::string bytes = randomBytes(3 * kBlock + 10, 7);
  FileRef f = put("crash", bytes);
  std::string path;
  {
    auto cache = open();
    ASSERT_EQ(*readRange(*cache, f, 0, 2 * kBlock), bytes.substr(0, 2 * kBlock));
    path = onlyFile();
  }
  // A fill cut short by a crash after its write and before its index entry.
  {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::string junk = randomBytes(10, 8);
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 3 * kBlock), 10);
    ::close(fd);
  }
  ASSERT_EQ(countBlocks(path, kBlock), 3u);

  auto cache = open();
  CacheStats s = cache->stats();
  EXPECT_EQ(s.recoveredBlocks, 2u);
  EXPECT_EQ(s.orphansRemoved, 1u);
  EXPECT_EQ(countBlocks(path, kBlock), 2u) << "the unindexed range is punched out";
  ASSERT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 4u) << "two blocks reused, two fetched";
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  cache->releaseWhole(w.pin);
}

TEST_F(BlockCacheObjectTest, ObjectEntriesOfAnotherBlockSizeAreDroppedAtOpen) {
  const std::string bytes = randomBytes(4 * kBlock, 9);
  FileRef f = put("resized", bytes);
  {
    auto cache = open();
    ASSERT_EQ(readAll(*cache, f), bytes);
  }
  opts_.blockSizeBytes = 2 * kBlock;
  auto cache = open();
  // Blocks 1 to 3 are no longer where their block numbers say: dropped. Block 0 may stay, to
  // be dropped at its first read (another length).
  EXPECT_LE(cache->stats().recoveredBlocks, 1u);
  EXPECT_EQ(readAll(*cache, f), bytes);
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.blocks, 2u);
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", 2 * kBlock), s.blocks) << "disk and memory agree";
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  cache->releaseWhole(w.pin);
}

}  // namespace
}  // namespace epochfs::cache::testing
