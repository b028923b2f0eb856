// The cache's size limit, admission and the policy's view of reads: LRU and fixed under a
// full cache, victims, continued reads, cache.min_free, and the dir lock.
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

TEST_F(BlockCacheTest, SizeLimitHoldsOnDiskWithLru) {
  auto cache = open("lru");
  std::vector<std::pair<FileRef, std::string>> files;
  uint64_t total = 0;
  for (int i = 0; total < 3 * opts_.sizeBytes; ++i) {
    size_t size = 10000 + static_cast<size_t>(i) * 7919 % (3 * kBlock);
    std::string bytes = randomBytes(size, static_cast<uint64_t>(i) + 100);
    total += size;
    files.emplace_back(put("train/" + std::to_string(i), bytes), bytes);
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& [f, bytes] : files) {
      ASSERT_EQ(readAll(*cache, f), bytes);
      CacheStats s = cache->stats();
      ASSERT_LE(s.usedBytes, s.limitBytes) << f.key << " pass " << pass;
      ASSERT_LE(diskUsage(opts_.dir), opts_.sizeBytes) << f.key << " pass " << pass;
    }
  }
  CacheStats s = cache->stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.notAdmitted, 0u);
  // The cache is actually used: most of it holds blocks.
  EXPECT_GT(s.usedBytes, opts_.sizeBytes / 2);
  EXPECT_EQ(s.checksumFailures, 0u);
}

TEST_F(BlockCacheTest, FixedPolicyStopsAdmittingWhenFull) {
  auto cache = open("fixed");
  EXPECT_EQ(cache->policyName(), "fixed");
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 3 * static_cast<int>(opts_.sizeBytes / kBlock); ++i) {
    std::string bytes = randomBytes(kBlock, static_cast<uint64_t>(i));
    files.emplace_back(put("s/" + std::to_string(i), bytes), bytes);
  }
  for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
  CacheStats first = cache->stats();
  EXPECT_EQ(first.evictions, 0u);
  EXPECT_GT(first.notAdmitted, 0u);
  EXPECT_GT(first.blocks, 0u);
  EXPECT_EQ(first.blocks + first.notAdmitted, files.size());
  EXPECT_LE(first.usedBytes, first.limitBytes);
  // The second epoch hits exactly the blocks kept by the first, and the set does not change.
  for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
  CacheStats second = cache->stats();
  EXPECT_EQ(second.hits, first.blocks);
  EXPECT_EQ(second.blocks, first.blocks);
  EXPECT_EQ(second.evictions, 0u);
  EXPECT_LE(diskUsage(opts_.dir), opts_.sizeBytes);
}

// Admits everything and counts the hits it is told of as reads (onAccess) or continued reads
// (onTouch). Names its smallest block as the victim, or none (namesVictims false): once full,
// the cache must then stop caching.
class CountingPolicy final : public policy::Policy {
 public:
  explicit CountingPolicy(bool namesVictims) : namesVictims_(namesVictims) {}
  std::string_view name() const override { return namesVictims_ ? "counting" : "novictim"; }
  void onInsert(policy::BlockId id, uint64_t) override { ids_.insert(id); }
  void onAccess(policy::BlockId) override { accesses++; }
  void onTouch(policy::BlockId) override { touches++; }
  void onErase(policy::BlockId id) override { ids_.erase(id); }
  bool shouldAdmit(uint64_t, uint64_t) override { return true; }
  std::optional<policy::BlockId> pickVictim() override {
    if (!namesVictims_ || ids_.empty()) return std::nullopt;
    return *ids_.begin();
  }
  size_t size() const override { return ids_.size(); }
  int accesses = 0;
  int touches = 0;

 private:
  const bool namesVictims_;
  std::set<policy::BlockId> ids_;
};

TEST_F(BlockCacheTest, AdmittedButNoVictimIsNotCached) {
  auto owned = std::make_unique<CountingPolicy>(/*namesVictims=*/false);
  CountingPolicy* policy = owned.get();
  auto cache = open(std::move(owned));
  EXPECT_EQ(cache->policyName(), "novictim");
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 2 * static_cast<int>(opts_.sizeBytes / kBlock); ++i) {
    std::string bytes = randomBytes(kBlock, static_cast<uint64_t>(i) + 7);
    files.emplace_back(put("nv/" + std::to_string(i), bytes), bytes);
  }
  for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
  CacheStats s = cache->stats();
  EXPECT_GT(s.notAdmitted, 0u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.blocks + s.notAdmitted, files.size());
  EXPECT_EQ(policy->size(), s.blocks);
  EXPECT_LE(s.usedBytes, s.limitBytes);
}

// A block read in parts (a shard streamed by 128 KiB FUSE reads) is one read for the policy
// (onAccess once per epoch's read), and every later part a touch: LRU keeps it the most
// recently used while it is being read, instead of evicting it half-way.
TEST_F(BlockCacheTest, ContinuedReadsOfABlockAreTouchesNotNewReads) {
  auto owned = std::make_unique<CountingPolicy>(/*namesVictims=*/true);
  CountingPolicy* policy = owned.get();
  auto cache = open(std::move(owned));
  std::vector<FileRef> files;
  for (uint64_t i = 0; i < 40; ++i) {
    files.push_back(put("t/" + std::to_string(i), randomBytes(kBlock, i)));
  }
  for (const FileRef& f : files) ASSERT_TRUE(readRange(*cache, f, 0, 100).isOk());  // misses
  ASSERT_EQ(policy->accesses, 0);
  // Each block's next parts, in order: one hit continuing the read, then another.
  for (const FileRef& f : files) {
    ASSERT_TRUE(readRange(*cache, f, 100, 100).isOk());
    ASSERT_TRUE(readRange(*cache, f, 200, 100).isOk());
  }
  EXPECT_EQ(policy->accesses, 0);
  EXPECT_EQ(policy->touches, 80);
  // A new read of each from its start (the next epoch): reported as a read.
  for (const FileRef& f : files) ASSERT_TRUE(readRange(*cache, f, 0, 100).isOk());
  EXPECT_EQ(policy->accesses, 40);
  EXPECT_EQ(originReads(), 40u);
}

TEST_F(BlockCacheTest, LruKeepsABlockBeingReadOverBlocksFilledMeanwhile) {
  auto cache = open("lru");
  std::string big = randomBytes(kBlock, 99);
  FileRef streamed = put("stream", big);
  ASSERT_TRUE(readRange(*cache, streamed, 0, 1024).isOk());  // its first part: a miss
  // Fill the cache twice over with other blocks, the streamed block read on between fills.
  const int fills = 2 * static_cast<int>(opts_.sizeBytes / kBlock);
  for (int i = 0; i < fills; ++i) {
    std::string other = randomBytes(kBlock, 1000 + static_cast<uint64_t>(i));
    ASSERT_EQ(readAll(*cache, put("o/" + std::to_string(i), other)), other);
    if (i % 8 == 0) {
      const uint64_t off = 1024 + static_cast<uint64_t>(i / 8) * 16;
      auto got = readRange(*cache, streamed, off, 16);
      ASSERT_TRUE(got.isOk());
      ASSERT_EQ(*got, big.substr(off, 16));
    }
  }
  EXPECT_GT(cache->stats().evictions, 0u);
  EXPECT_EQ(originReads(), 1u + static_cast<uint64_t>(fills)) << "the streamed block was refetched";
}

TEST_F(BlockCacheTest, MinFreeKeepsBlocksOut) {
  // More than is free, less than the filesystem's size (which open() refuses).
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(std::filesystem::path(opts_.dir).parent_path().c_str(), &vfs), 0);
  opts_.minFreeBytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize - 1;
  ASSERT_GT(opts_.minFreeBytes, static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize);
  auto cache = open();
  std::string bytes = randomBytes(2 * kBlock, 9);
  FileRef f = put("m", bytes);
  EXPECT_EQ(readAll(*cache, f), bytes);
  EXPECT_EQ(readAll(*cache, f), bytes);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(s.notAdmitted, 4u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(originReads(), 4u);
}

TEST_F(BlockCacheTest, MinFreeAboveTheFilesystemIsRefusedNotSilentlyUseless) {
  opts_.minFreeBytes = uint64_t{1} << 62;
  auto cache = BlockCache::open(opts_, faulty_, makePolicy("lru"));
  ASSERT_FALSE(cache.isOk());
  EXPECT_EQ(cache.status().code(), Code::kInvalid);
  EXPECT_NE(cache.status().message().find("cache.min_free (--min-free)"), std::string::npos)
      << cache.status().message();
  EXPECT_NE(cache.status().message().find(opts_.dir), std::string::npos);
}

TEST_F(BlockCacheTest, SecondOpenOfTheDirIsBusy) {
  auto cache = open();
  ASSERT_TRUE(cache);
  auto second = BlockCache::open(opts_, faulty_, makePolicy("lru"));
  ASSERT_FALSE(second.isOk());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())),
            std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find(opts_.dir), std::string::npos);
  cache.reset();
  EXPECT_TRUE(BlockCache::open(opts_, faulty_, makePolicy("lru")).isOk());  // released
}

}  // namespace
}  // namespace epochfs::cache::testing
