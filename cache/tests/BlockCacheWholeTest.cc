// BlockCache::openWhole/releaseWhole: files of one block handed to the kernel whole (FUSE
// passthrough; files of many blocks: BlockCacheObjectTest.cc). What the fd reads, what is
// declined and why, and the space an evicted file holds until its last pin is released.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/BlockStore.h"
#include "cache/tests/WholeFileTestFixture.h"
#include "config/Options.h"

namespace epochfs::cache::testing {
namespace {

class BlockCacheWholeTest : public WholeFileTest {
 protected:
  // Flips one byte of the only block file.
  void corruptOnlyBlock(uint64_t at) { cache::testing::corruptOnlyBlock(opts_.dir, at); }
};

TEST_F(BlockCacheWholeTest, ACachedFileIsHandedOutWithItsBytesAndCountedAsAHit) {
  auto cache = open();
  const std::string bytes = randomBytes(5000, 1);
  FileRef f = put("small", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  const CacheStats before = cache->stats();
  ASSERT_EQ(before.hits, 0u);
  ASSERT_EQ(before.epochs.back().reads, 1u);

  WholeFile w = handOut(*cache, f);
  ASSERT_GE(w.fd, 0);
  EXPECT_NE(w.pin, 0u);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  EXPECT_LT(::write(w.fd, "x", 1), 0) << "read-only";
  EXPECT_EQ(originReads(), 1u) << "from the cache, not the origin";

  const CacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.hitBytes, bytes.size());
  EXPECT_EQ(s.epochs.back().reads, 2u);
  EXPECT_EQ(s.epochs.back().hits, 1u);
  EXPECT_EQ(s.epochs.back().hitBytes, bytes.size());
  EXPECT_EQ(s.whole.opens, 1u);
  EXPECT_EQ(s.whole.bytes, bytes.size());
  EXPECT_EQ(s.whole.held, 1u);
  EXPECT_EQ(s.whole.heldEvictedBytes, 0u);

  // Still cached: the release frees nothing, the file stays.
  cache->releaseWhole(w.pin);
  const CacheStats after = cache->stats();
  EXPECT_EQ(after.whole.held, 0u);
  EXPECT_EQ(after.blocks, 1u);
  EXPECT_EQ(after.whole.heldEvictedBytes, 0u);
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 1u);
}

TEST_F(BlockCacheWholeTest, AFileOfExactlyOneBlockOfManyChunksIsVerifiedInFull) {
  opts_.blockSizeBytes = 1 * config::kMiB;  // 8 checksum chunks
  auto cache = open();
  const std::string bytes = randomBytes(opts_.blockSizeBytes, 2);
  FileRef f = put("one-block", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
  cache->releaseWhole(w.pin);

  // A flipped byte in the seventh chunk, which no read touched since.
  corruptOnlyBlock(6 * 128 * 1024 + 77);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kCorrupt);
  EXPECT_EQ(cache->stats().whole.corrupt, 1u);
}

TEST_F(BlockCacheWholeTest, AFileNeverReadIsNotCached) {
  auto cache = open();
  FileRef f = put("unread", randomBytes(100, 3));
  EXPECT_EQ(declined(*cache, f), WholeMiss::kNotCached);
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.whole.notCached, 1u);
  EXPECT_EQ(s.whole.opens, 0u);
  EXPECT_EQ(s.whole.held, 0u);
  EXPECT_EQ(s.hits, 0u);
}

TEST_F(BlockCacheWholeTest, AnotherVersionIsNotCached) {
  auto cache = open();
  const std::string v1 = randomBytes(3000, 4);
  FileRef f1 = put("versioned", v1);
  ASSERT_EQ(readAll(*cache, f1), v1);
  FileRef f2 = put("versioned", randomBytes(3000, 5));  // same size, new etag
  ASSERT_NE(f1.etag, f2.etag);
  EXPECT_EQ(declined(*cache, f2), WholeMiss::kNotCached);
  EXPECT_EQ(cache->stats().whole.notCached, 1u);
  // The cached version is still handed out to a reader of that version.
  WholeFile w = handOut(*cache, f1);
  EXPECT_EQ(readFd(w.fd, f1.size), v1);
}

TEST_F(BlockCacheWholeTest, EmptyFilesAreTooLarge) {
  auto cache = open();
  FileRef empty = put("empty", "");
  EXPECT_EQ(declined(*cache, empty), WholeMiss::kTooLarge);
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.whole.tooLarge, 1u);
  EXPECT_EQ(s.whole.opens, 0u);
  EXPECT_EQ(s.hits, 0u);
}

TEST_F(BlockCacheWholeTest, ACorruptFileIsDroppedAndTheNextReadRefetchesIt) {
  auto cache = open();
  const std::string bytes = randomBytes(20000, 7);
  FileRef f = put("flipped", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  corruptOnlyBlock(12345);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kCorrupt);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.whole.corrupt, 1u);
  EXPECT_EQ(s.checksumFailures, 1u);
  EXPECT_EQ(s.whole.held, 0u);
  EXPECT_EQ(s.blocks, 0u) << "dropped";
  EXPECT_EQ(s.hits, 0u);
  EXPECT_TRUE(filesUnder(opts_.dir + "/blocks").empty());

  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 2u) << "refetched";
  // Cached intact again: handed out.
  WholeFile w = handOut(*cache, f);
  EXPECT_EQ(readFd(w.fd, f.size), bytes);
}

// fuse.passthrough_verify: once. The trade-off it makes, shown: a flip after the first
// verification is handed out until the next restart verifies again.
TEST_F(BlockCacheWholeTest, VerifiedOnceIsTrustedUntilARestartOrARefetch) {
  opts_.verifyHandOutsOnce = true;
  const std::string bytes = randomBytes(30000, 11);
  FileRef f = put("once", bytes);
  {
    auto cache = open();
    ASSERT_EQ(readAll(*cache, f), bytes);
    WholeFile first = handOut(*cache, f);
    cache->releaseWhole(first.pin);
    corruptOnlyBlock(777);
    WholeFile second = handOut(*cache, f);
    EXPECT_NE(readFd(second.fd, f.size), bytes) << "not verified again";
    cache->releaseWhole(second.pin);
    const CacheStats s = cache->stats();
    EXPECT_EQ(s.whole.opens, 2u);
    EXPECT_EQ(s.whole.trusted, 1u);
    EXPECT_EQ(s.whole.bytes, f.size) << "one verification";
  }
  auto cache = open();  // a restart: nothing verified yet
  EXPECT_EQ(declined(*cache, f), WholeMiss::kCorrupt);
  ASSERT_EQ(readAll(*cache, f), bytes);  // refetched: a new entry, verified at its first hand-out
  corruptOnlyBlock(778);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kCorrupt);
  EXPECT_EQ(cache->stats().whole.trusted, 0u);
}

TEST_F(BlockCacheWholeTest, AVanishedOrTruncatedBlockFileIsDroppedAsLost) {
  auto cache = open();
  const std::string bytes = randomBytes(9000, 8);
  FileRef f = put("lost", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  auto blocks = filesUnder(opts_.dir + "/blocks");
  ASSERT_EQ(blocks.size(), 1u);
  ASSERT_EQ(::truncate(blocks[0].c_str(), 4096), 0);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kNotCached);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.lostBlocks, 1u);
  EXPECT_EQ(s.whole.notCached, 1u);
  EXPECT_EQ(s.blocks, 0u);

  ASSERT_EQ(readAll(*cache, f), bytes);
  blocks = filesUnder(opts_.dir + "/blocks");
  ASSERT_EQ(blocks.size(), 1u);
  ASSERT_EQ(::unlink(blocks[0].c_str()), 0);
  EXPECT_EQ(declined(*cache, f), WholeMiss::kNotCached);
  s = cache->stats();
  EXPECT_EQ(s.lostBlocks, 2u);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(readAll(*cache, f), bytes);
}

TEST_F(BlockCacheWholeTest, EvictedPinnedFilesStayReadableAndHoldTheirSpaceUntilReleased) {
  opts_.sizeBytes = 8 * config::kMiB;  // metadata reserve: 1 MiB
  auto cache = open("lru");
  // More held than the reserve, so that a cache not counting them would pass cache.size.
  constexpr int kPinned = 24;
  std::vector<std::pair<FileRef, std::string>> pinnedFiles;
  std::vector<WholeFile> outs;
  for (int i = 0; i < kPinned; ++i) {
    std::string bytes = randomBytes(kBlock, 100 + static_cast<uint64_t>(i));
    FileRef f = put("pinned/" + std::to_string(i), bytes);
    ASSERT_EQ(readAll(*cache, f), bytes);
    outs.push_back(handOut(*cache, f));
    pinnedFiles.emplace_back(f, std::move(bytes));
  }
  ASSERT_EQ(cache->stats().whole.held, static_cast<uint64_t>(kPinned));
  ASSERT_EQ(cache->stats().evictions, 0u);

  // Twice the cache's size of other files: every pinned file is evicted.
  auto readOthers = [&](const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      std::string bytes = randomBytes(kBlock, 1000 + static_cast<uint64_t>(i));
      FileRef f = put(prefix + std::to_string(i), bytes);
      ASSERT_EQ(readAll(*cache, f), bytes);
    }
  };
  readOthers("a/", 256);
  const CacheStats held = cache->stats();
  const uint64_t alloc = BlockStore::allocatedBytes(kBlock);
  EXPECT_GT(held.evictions, static_cast<uint64_t>(kPinned));
  EXPECT_EQ(held.whole.held, static_cast<uint64_t>(kPinned));
  EXPECT_EQ(held.whole.heldEvictedBytes, kPinned * alloc);
  EXPECT_LE(held.usedBytes, held.limitBytes) << "held bytes count against cache.size";
  EXPECT_EQ(countFiles(opts_.dir + "/blocks"), held.blocks) << "the evicted are unlinked";
  for (int i = 0; i < kPinned; ++i) {
    EXPECT_EQ(declined(*cache, pinnedFiles[i].first), WholeMiss::kNotCached) << i;
    EXPECT_EQ(readFd(outs[i].fd, kBlock), pinnedFiles[i].second) << "pinned file " << i;
  }

  for (const WholeFile& w : outs) cache->releaseWhole(w.pin);
  const CacheStats released = cache->stats();
  EXPECT_EQ(released.whole.held, 0u);
  EXPECT_EQ(released.whole.heldEvictedBytes, 0u);
  // The space they held is the cache's again: more blocks fit now.
  readOthers("b/", 256);
  const CacheStats after = cache->stats();
  EXPECT_LE(after.usedBytes, after.limitBytes);
  EXPECT_GE(after.blocks, held.blocks + kPinned / 2)
      << "held: " << held.blocks << " blocks, after the release: " << after.blocks;
}

TEST_F(BlockCacheWholeTest, TwoPinsOnOneFileHoldItUntilTheLastIsReleased) {
  opts_.sizeBytes = 8 * config::kMiB;
  auto cache = open("lru");
  const std::string bytes = randomBytes(kBlock, 9);
  FileRef f = put("twice", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  WholeFile first = handOut(*cache, f);
  WholeFile second = handOut(*cache, f);
  EXPECT_NE(first.pin, second.pin);
  EXPECT_EQ(cache->stats().whole.held, 2u);
  EXPECT_EQ(cache->stats().hits, 2u);

  for (int i = 0; i < 256; ++i) {
    std::string other = randomBytes(kBlock, 2000 + static_cast<uint64_t>(i));
    ASSERT_EQ(readAll(*cache, put("o/" + std::to_string(i), other)), other);
  }
  const uint64_t alloc = BlockStore::allocatedBytes(kBlock);
  CacheStats s = cache->stats();
  ASSERT_EQ(declined(*cache, f), WholeMiss::kNotCached) << "evicted";
  EXPECT_EQ(s.whole.heldEvictedBytes, alloc) << "one file, however many pins";

  cache->releaseWhole(first.pin);
  s = cache->stats();
  EXPECT_EQ(s.whole.held, 1u);
  EXPECT_EQ(s.whole.heldEvictedBytes, alloc) << "the second pin still holds it";
  EXPECT_EQ(readFd(second.fd, kBlock), bytes);
  cache->releaseWhole(first.pin);  // again: unknown now, ignored
  s = cache->stats();
  EXPECT_EQ(s.whole.held, 1u);
  EXPECT_EQ(s.whole.heldEvictedBytes, alloc);

  cache->releaseWhole(second.pin);
  s = cache->stats();
  EXPECT_EQ(s.whole.held, 0u);
  EXPECT_EQ(s.whole.heldEvictedBytes, 0u);
  cache->releaseWhole(12345);  // never handed out
  EXPECT_EQ(cache->stats().whole.held, 0u);
}

// Readers and hand-outs racing over a cache too small for the files: every fd reads its
// file's bytes, and once all is released nothing is held and the cache is within its size.
TEST_F(BlockCacheWholeTest, ConcurrentHandOutsAndEvictionsKeepTheBooks) {
  opts_.sizeBytes = 4 * config::kMiB;
  auto cache = open("lru");
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 80; ++i) {
    std::string bytes =
        randomBytes(static_cast<size_t>(i % 5 + 1) * 12000, 500 + static_cast<uint64_t>(i));
    files.emplace_back(put("r/" + std::to_string(i), bytes), std::move(bytes));
  }
  std::atomic<int> wrong{0};
  std::atomic<uint64_t> handedOut{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t));
      std::vector<WholeFile> mine;
      for (int i = 0; i < 200; ++i) {
        const auto& [f, bytes] = files[rng() % files.size()];
        auto got = readRange(*cache, f, 0, f.size);
        if (!got.isOk() || *got != bytes) wrong++;
        auto r = cache->openWhole(f);
        if (auto* w = std::get_if<WholeFile>(&r)) {
          handedOut++;
          if (readFd(w->fd, f.size) != bytes) wrong++;
          mine.push_back(*w);
        }
        // Hold a few at a time, released in another order than taken.
        if (mine.size() > 3) {
          const size_t k = rng() % mine.size();
          ::close(mine[k].fd);
          cache->releaseWhole(mine[k].pin);
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
        }
      }
      for (const WholeFile& w : mine) {
        ::close(w.fd);
        cache->releaseWhole(w.pin);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  const CacheStats s = cache->stats();
  EXPECT_GT(handedOut.load(), 0u);
  EXPECT_EQ(s.whole.opens, handedOut.load());
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.whole.held, 0u);
  EXPECT_EQ(s.whole.heldEvictedBytes, 0u);
  EXPECT_LE(s.usedBytes, s.limitBytes);
  EXPECT_EQ(countFiles(opts_.dir + "/blocks"), s.blocks);
}

}  // namespace
}  // namespace epochfs::cache::testing
