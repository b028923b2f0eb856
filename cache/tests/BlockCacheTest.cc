#include <sys/statvfs.h>

#include "cache/BlockCache.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockStore.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

TEST_F(BlockCacheTest, RandomReadsAreByteExact) {
  auto cache = open();
  ASSERT_TRUE(cache);
  std::vector<std::pair<FileRef, std::string>> files;
  for (uint64_t size : std::vector<uint64_t>{0, 1, kBlock - 1, kBlock, kBlock + 1, 5 * kBlock + 123, 700000}) {
    std::string bytes = randomBytes(size, size);
    files.emplace_back(put("d/f" + std::to_string(size), bytes), bytes);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const auto& [f, bytes] = files[rng() % files.size()];
    uint64_t off = rng() % (f.size + 2);
    size_t len = rng() % 3 == 0 ? static_cast<size_t>(rng() % (3 * kBlock)) : rng() % 5000;
    auto got = readRange(*cache, f, off, len);
    ASSERT_TRUE(got.isOk()) << got.status().toString();
    std::string want = off >= bytes.size() ? std::string() : bytes.substr(off, len);
    ASSERT_EQ(*got, want) << f.key << " off " << off << " len " << len;
  }
  CacheStats s = cache->stats();
  EXPECT_GT(s.hits, 0u);
  EXPECT_EQ(s.checksumFailures, 0u);
  // Every non-empty block cached once: 1+1+1+2+6+11.
  EXPECT_EQ(s.blocks, 22u);
  EXPECT_EQ(originReads(), 22u);
}

TEST_F(BlockCacheTest, SecondReadIsAHit) {
  auto cache = open();
  FileRef f = put("a.bin", randomBytes(3 * kBlock + 10, 1));
  std::string first = readAll(*cache, f);
  EXPECT_EQ(originReads(), 4u);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.missBytes, f.size);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(readAll(*cache, f), first);
  EXPECT_EQ(originReads(), 4u);
  s = cache->stats();
  EXPECT_EQ(s.hits, 4u);
  EXPECT_EQ(s.hitBytes, f.size);
  EXPECT_EQ(s.blocks, 4u);
  EXPECT_GT(s.usedBytes, 4 * kBlock);
  EXPECT_EQ(s.limitBytes, opts_.sizeBytes);
  EXPECT_EQ(cache->policyName(), "lru");
}

TEST_F(BlockCacheTest, ReopenServesEverythingWithoutTheOrigin) {
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 10; ++i) {
    std::string bytes = randomBytes(static_cast<size_t>(i) * 40000 + 1, static_cast<uint64_t>(i));
    files.emplace_back(put("f" + std::to_string(i), bytes), bytes);
  }
  uint64_t blocks = 0;
  {
    auto cache = open();
    for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
    blocks = cache->stats().blocks;
  }
  uint64_t before = originReads();
  auto cache = open();
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->stats().recoveredBlocks, blocks);
  EXPECT_EQ(cache->stats().orphansRemoved, 0u);
  for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), before);
  EXPECT_EQ(cache->stats().hits, blocks);
}

TEST_F(BlockCacheTest, CorruptBlockIsDroppedAndRefetched) {
  auto cache = open();
  std::string bytes = randomBytes(kBlock, 3);
  FileRef f = put("x", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  corruptOnlyBlock(opts_.dir, 1000);
  EXPECT_EQ(originReads(), 1u);
  auto got = readRange(*cache, f, 900, 200);  // touches the flipped byte
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, bytes.substr(900, 200));
  CacheStats s = cache->stats();
  EXPECT_EQ(s.checksumFailures, 1u);
  EXPECT_EQ(originReads(), 2u);
  // Refetched and cached again, this time intact.
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 2u);
  EXPECT_EQ(cache->stats().checksumFailures, 1u);
}

// Reads of more than 9 chunks (their sums are copied to the heap, not the stack): the same
// chunks are verified.
TEST_F(BlockCacheTest, LongReadsVerifyTheirChunksToo) {
  constexpr uint64_t kChunk = 128 * 1024;
  opts_.blockSizeBytes = 16 * kChunk;
  auto cache = open();
  std::string bytes = randomBytes(opts_.blockSizeBytes, 5);
  FileRef f = put("long", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  corruptOnlyBlock(opts_.dir, 12 * kChunk + 7);  // in chunk 12
  auto got = readRange(*cache, f, 100, 12 * kChunk - 200);  // chunks 0-11: a good hit
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, bytes.substr(100, 12 * kChunk - 200));
  EXPECT_EQ(cache->stats().checksumFailures, 0u);
  EXPECT_EQ(originReads(), 1u);
  got = readRange(*cache, f, 3 * kChunk + 5, 10 * kChunk);  // chunks 3-13
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, bytes.substr(3 * kChunk + 5, 10 * kChunk));
  EXPECT_EQ(cache->stats().checksumFailures, 1u);
  EXPECT_EQ(originReads(), 2u);
}

TEST_F(BlockCacheTest, OnlyTouchedChunksAreVerified) {
  opts_.blockSizeBytes = 4 * 128 * 1024;  // four checksum chunks
  auto cache = open();
  std::string bytes = randomBytes(opts_.blockSizeBytes, 4);
  FileRef f = put("big", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  corruptOnlyBlock(opts_.dir, 3 * 128 * 1024 + 5);  // in the last chunk
  auto got = readRange(*cache, f, 0, 128 * 1024);  // first chunk: still a good hit
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, bytes.substr(0, 128 * 1024));
  EXPECT_EQ(cache->stats().checksumFailures, 0u);
  EXPECT_EQ(originReads(), 1u);
  got = readRange(*cache, f, 3 * 128 * 1024 - 10, 20);  // crosses into the bad chunk
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, bytes.substr(3 * 128 * 1024 - 10, 20));
  EXPECT_EQ(cache->stats().checksumFailures, 1u);
  EXPECT_EQ(originReads(), 2u);
}

TEST_F(BlockCacheTest, VanishedBlockFileIsAMiss) {
  auto cache = open();
  std::string bytes = randomBytes(1000, 5);
  FileRef f = put("v", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  for (const auto& p : filesUnder(opts_.dir + "/blocks")) std::filesystem::remove(p);
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 2u);
  EXPECT_EQ(cache->stats().blocks, 1u);  // cached again
  EXPECT_EQ(cache->stats().lostBlocks, 1u);
}

TEST_F(BlockCacheTest, TruncatedBlockFileIsCountedAndRefetched) {
  auto cache = open();
  std::string bytes = randomBytes(300 * 1024, 6);
  FileRef f = put("t", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  const uint64_t blocks = cache->stats().blocks;
  ASSERT_GT(blocks, 1u);
  for (const auto& p : filesUnder(opts_.dir + "/blocks")) std::filesystem::resize_file(p, 1000);
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(originReads(), 2 * blocks);
  EXPECT_EQ(cache->stats().lostBlocks, blocks);
  EXPECT_EQ(cache->stats().checksumFailures, 0u);
}


TEST_F(BlockCacheTest, ConcurrentMissesShareOneOriginRead) {
  auto cache = open();
  std::string bytes = randomBytes(kBlock, 11);
  FileRef f = put("hot", bytes);
  faulty_.setReadDelay(std::chrono::milliseconds(200));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  std::latch start(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto got = readRange(*cache, f, static_cast<uint64_t>(i) * 100, 1000);
      if (!got.isOk() || *got != bytes.substr(static_cast<size_t>(i) * 100, 1000)) wrong++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(faulty_.readCalls(), 1u);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.hits + s.misses, 16u);
  EXPECT_GE(s.singleFlightWaits, 1u);
  EXPECT_EQ(s.singleFlightWaits + s.hits, 15u);
  // The leader waited on the origin; the joiners on its fetch (those that found it fetched
  // already, during the fill, did not wait).
  EXPECT_GE(s.stalls.nsOf(StallKind::kOrigin), 200'000'000u);
  EXPECT_LE(s.stalls.reads, 1 + s.singleFlightWaits);
  EXPECT_GE(s.stalls.reads, 1u);
  if (s.stalls.reads > 1) {
    EXPECT_GT(s.stalls.nsOf(StallKind::kReader), 0u);
  }
}

// Misses wait and say on what; hits wait for nothing. The origin sleeps 50 ms per read, so
// the lower bounds below hold however slow the machine.
TEST_F(BlockCacheTest, MissesRecordTheirWaitsAndHitsNone) {
  auto cache = open();
  FileRef a = put("a", randomBytes(kBlock, 21));
  FileRef b = put("b", randomBytes(2 * kBlock, 22));
  faulty_.setReadDelay(std::chrono::milliseconds(50));
  readAll(*cache, a);
  readAll(*cache, b);  // two blocks: two block reads that waited
  CacheStats s = cache->stats();
  constexpr uint64_t k50Ms = 50'000'000;
  EXPECT_EQ(s.stalls.reads, 3u);
  EXPECT_GE(s.stalls.nsOf(StallKind::kOrigin), 3 * k50Ms);
  EXPECT_GT(s.stalls.nsOf(StallKind::kFill), 0u) << "the leader's fill is part of its wait";
  EXPECT_EQ(s.stalls.nsOf(StallKind::kPrefetch) + s.stalls.nsOf(StallKind::kReader), 0u);
  EXPECT_GE(s.stalls.waits.quantile(0.5), k50Ms);
  EXPECT_GE(s.stalls.maxNs, k50Ms);
  ASSERT_EQ(s.epochs.size(), 1u);
  EXPECT_EQ(s.epochs[0].stalls.reads, 3u);
  EXPECT_EQ(s.epochs[0].stalls.totalNs(), s.stalls.totalNs());
  // Cached now: reading everything again waits for nothing.
  readAll(*cache, a);
  readAll(*cache, b);
  CacheStats again = cache->stats();
  EXPECT_EQ(again.hits, 3u);
  EXPECT_EQ(again.stalls.reads, 3u);
  EXPECT_EQ(again.stalls.totalNs(), s.stalls.totalNs());
}

// A block the cache does not admit is read from the origin range by range: each waits.
TEST_F(BlockCacheTest, UncachedReadsWaitOnTheOriginToo) {
  opts_.sizeBytes = 1;  // nothing fits
  auto cache = open();
  FileRef a = put("a", randomBytes(kBlock, 23));
  faulty_.setReadDelay(std::chrono::milliseconds(20));
  ASSERT_TRUE(readRange(*cache, a, 0, 100).isOk());
  CacheStats s = cache->stats();
  EXPECT_EQ(s.notAdmitted, 1u);
  EXPECT_EQ(s.stalls.reads, 1u);
  EXPECT_GE(s.stalls.nsOf(StallKind::kOrigin), 20'000'000u);
  EXPECT_EQ(s.stalls.nsOf(StallKind::kFill), 0u);
}

TEST_F(BlockCacheTest, OriginErrorReachesEveryWaiterAndTheNextReadRetries) {
  auto cache = open();
  std::string bytes = randomBytes(kBlock, 12);
  FileRef f = put("e", bytes);
  // The delay is long next to thread start-up, so all four join the one failing fetch.
  faulty_.setReadDelay(std::chrono::milliseconds(1000));
  faulty_.failNextReads(1, Code::kUnavailable);
  std::vector<std::thread> threads;
  std::atomic<int> unavailable{0};
  std::latch start(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto got = readRange(*cache, f, 0, 10);
      if (!got.isOk() && got.status().code() == Code::kUnavailable) unavailable++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(unavailable.load(), 4);  // one fetch, failed, shared by all four
  EXPECT_EQ(cache->stats().blocks, 0u);
  faulty_.setReadDelay(std::chrono::milliseconds(0));
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(cache->stats().blocks, 1u);
}

TEST_F(BlockCacheTest, OriginErrorsPropagate) {
  auto cache = open();
  FileRef f = put("n", randomBytes(100, 1));
  faulty_.failNextReads(1, Code::kIo);
  EXPECT_EQ(readRange(*cache, f, 0, 10).status().code(), Code::kIo);
  FileRef gone{"missing", "v999", 100};
  EXPECT_EQ(readRange(*cache, gone, 0, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(cache->stats().blocks, 0u);
}

TEST_F(BlockCacheTest, StaleBlockIsDroppedAndRefetched) {
  auto cache = open();
  std::string v1 = randomBytes(kBlock + 10, 20);
  FileRef f1 = put("s", v1);
  ASSERT_EQ(readAll(*cache, f1), v1);
  std::string v2 = randomBytes(kBlock + 10, 21);
  FileRef f2 = put("s", v2);
  ASSERT_NE(f1.etag, f2.etag);
  EXPECT_EQ(readAll(*cache, f2), v2);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.staleDrops, 2u);
  EXPECT_EQ(s.blocks, 2u);
  EXPECT_EQ(originReads(), 4u);
  // A reader still holding the old version: its blocks are gone and the origin says kStale.
  EXPECT_EQ(readRange(*cache, f1, 0, 10).status().code(), Code::kStale);
  EXPECT_EQ(readAll(*cache, f2), v2);  // the new version survived
  EXPECT_EQ(originReads(), 5u);
}

// Seeing another version of a cached block (here in a plan) changes the latest version seen
// but not the one cached: a reader of the cached version still hits, also after that.
TEST_F(BlockCacheTest, SeeingAnotherVersionKeepsTheCachedOne) {
  auto cache = open();
  std::string bytes = randomBytes(kBlock + 10, 23);
  FileRef f = put("v", bytes);
  ASSERT_EQ(readAll(*cache, f), bytes);
  FileRef other = f;
  other.etag += "-other";
  for (int round = 0; round < 2; ++round) {
    cache->addPlan({other}, 0);
    EXPECT_EQ(readAll(*cache, f), bytes);
  }
  CacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 4u);
  EXPECT_EQ(s.staleDrops, 0u);
  EXPECT_EQ(s.blocks, 2u);
  EXPECT_EQ(originReads(), 2u);
}

TEST_F(BlockCacheTest, TruncatedOriginReadIsStale) {
  auto cache = open();
  FileRef f = put("t", randomBytes(kBlock, 22));
  faulty_.setTruncateReads(true);
  EXPECT_EQ(readRange(*cache, f, 0, 10).status().code(), Code::kStale);
  // A FileRef claiming more bytes than the object has: also stale, never padded.
  faulty_.setTruncateReads(false);
  FileRef longer = f;
  longer.size += 5;
  EXPECT_EQ(readRange(*cache, longer, kBlock, 5).status().code(), Code::kStale);
  EXPECT_EQ(cache->stats().blocks, 0u);
}

TEST_F(BlockCacheTest, EdgeFileSizes) {
  auto cache = open();
  for (uint64_t size : std::vector<uint64_t>{0, 1, kBlock, kBlock + 1}) {
    std::string bytes = randomBytes(size, size + 1);
    FileRef f = put("edge" + std::to_string(size), bytes);
    uint64_t before = originReads();
    EXPECT_EQ(readAll(*cache, f), bytes) << size;
    EXPECT_EQ(originReads() - before, (size + kBlock - 1) / kBlock) << size;
    // At and past the end: 0 bytes, no origin call.
    auto end = readRange(*cache, f, size, 10);
    ASSERT_TRUE(end.isOk());
    EXPECT_TRUE(end->empty());
    EXPECT_TRUE(readRange(*cache, f, size + 100, 10)->empty());
    if (size > 0) {
      EXPECT_EQ(*readRange(*cache, f, size - 1, 10), bytes.substr(size - 1));
    }
    EXPECT_EQ(readAll(*cache, f), bytes) << size;
    EXPECT_EQ(originReads() - before, (size + kBlock - 1) / kBlock) << size;
  }
  EXPECT_EQ(cache->stats().blocks, 1u + 1u + 2u);
}

TEST_F(BlockCacheTest, ConcurrentRandomReadersOverASmallCache) {
  opts_.sizeBytes = 8 * config::kMiB;
  auto cache = open("lru");
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 60; ++i) {
    std::string bytes = randomBytes(static_cast<size_t>(i % 7 + 1) * 50000, static_cast<uint64_t>(i));
    files.emplace_back(put("c/" + std::to_string(i), bytes), bytes);
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t));
      for (int i = 0; i < 300; ++i) {
        const auto& [f, bytes] = files[rng() % files.size()];
        uint64_t off = rng() % f.size;
        size_t len = static_cast<size_t>(rng() % (2 * kBlock));
        auto got = readRange(*cache, f, off, len);
        if (!got.isOk() || *got != bytes.substr(off, len)) wrong++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  CacheStats s = cache->stats();
  EXPECT_LE(s.usedBytes, s.limitBytes);
  EXPECT_LE(diskUsage(opts_.dir), opts_.sizeBytes);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(s.hits, 0u);
  // The in-memory view matches the disk.
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), s.blocks);
  EXPECT_TRUE(std::filesystem::is_empty(opts_.dir + "/tmp"));
}

TEST_F(BlockCacheTest, WriteFailureStillServesTheBytes) {
  auto cache = open();
  std::string bytes = randomBytes(3000, 30);
  FileRef f = put("wf", bytes);
  // A file in place of blocks/ (and of tmp/, which a filesystem without O_TMPFILE writes
  // through) makes every write fail.
  for (const char* sub : {"/blocks", "/tmp"}) {
    std::filesystem::remove_all(opts_.dir + sub);
    std::ofstream(opts_.dir + sub) << "in the way";
  }
  EXPECT_EQ(readAll(*cache, f), bytes);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.notAdmitted, 1u);
  EXPECT_EQ(s.blocks, 0u);
  for (const char* sub : {"/blocks", "/tmp"}) {
    std::filesystem::remove(opts_.dir + sub);
    std::filesystem::create_directory(opts_.dir + sub);
  }
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(cache->stats().blocks, 1u);
  EXPECT_EQ(originReads(), 2u);
}

TEST_F(BlockCacheTest, CorruptIndexStartsEmpty) {
  std::string bytes = randomBytes(3000, 31);
  FileRef f = put("ci", bytes);
  {
    auto cache = open();
    ASSERT_EQ(readAll(*cache, f), bytes);
  }
  std::ofstream(opts_.dir + "/index/CURRENT", std::ios::trunc) << "garbage";
  auto cache = open();
  ASSERT_TRUE(cache);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.recoveredBlocks, 0u);
  EXPECT_EQ(s.orphansRemoved, 1u);  // the block file nothing describes any more
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(cache->stats().blocks, 1u);
}

TEST_F(BlockCacheTest, InvalidOptions) {
  config::CacheOptions bad = opts_;
  bad.dir.clear();
  EXPECT_EQ(BlockCache::open(bad, faulty_, makePolicy("lru")).status().code(), Code::kInvalid);
  bad = opts_;
  bad.blockSizeBytes = 0;
  EXPECT_EQ(BlockCache::open(bad, faulty_, makePolicy("lru")).status().code(), Code::kInvalid);
  bad = opts_;
  bad.dir = "/proc/self/nope";
  auto r = BlockCache::open(bad, faulty_, makePolicy("lru"));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("/proc/self/nope"), std::string::npos);
}

}  // namespace
}  // namespace epochfs::cache::testing
