// The prefetchers' accounting of blocks prefetched and evicted unread, and prefetches that
// fail (an origin error, a file changed since the plan) (PrefetchTestFixture.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cache/tests/PrefetchTestFixture.h"

namespace epochfs::cache::testing {

// Prefetches every block of the plan in order and evicts the oldest, read or not: the cache's
// accounting of prefetched blocks that leave unread, and its size limit under churn.
class PrefetchAllPolicy final : public policy::Policy {
 public:
  std::string_view name() const override { return "prefetch-all"; }
  void onInsert(policy::BlockId id, uint64_t) override { cached_.push_back(id); }
  void onAccess(policy::BlockId) override {}
  void onErase(policy::BlockId id) override { std::erase(cached_, id); }
  bool shouldAdmit(uint64_t, uint64_t) override { return true; }
  std::optional<policy::BlockId> pickVictim() override {
    if (cached_.empty()) return std::nullopt;
    return cached_.front();
  }
  size_t size() const override { return cached_.size(); }
  std::optional<policy::BlockId> nextPrefetch(uint64_t) override {
    if (todo_.empty()) return std::nullopt;
    policy::BlockId id = todo_.front();
    todo_.pop_front();
    return id;
  }
  bool addPlan(const std::vector<policy::BlockId>& order, uint64_t) override {
    todo_.insert(todo_.end(), order.begin(), order.end());
    return true;
  }

 private:
  std::deque<policy::BlockId> cached_;  // oldest first
  std::deque<policy::BlockId> todo_;
};

TEST_F(BlockCachePrefetchTest, PrefetchedBlocksEvictedUnreadAreCountedUnused) {
  constexpr size_t kFiles = 200;
  makeFiles(kFiles);
  auto cache = openCache(std::make_unique<PrefetchAllPolicy>());
  ASSERT_TRUE(cache);
  ASSERT_EQ(cache->addPlan(refs(shuffled(8)), 0), kFiles);
  SizeSampler sampler(*cache, opts_.dir);
  cache->startPrefetch(2);
  settle();
  CacheStats s = cache->stats();
  ASSERT_GE(s.prefetch.prefetched + s.prefetch.declined + s.prefetch.failed, kFiles)
      << "prefetched " << s.prefetch.prefetched << " of " << kFiles;
  EXPECT_EQ(s.prefetch.prefetched, kFiles);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.prefetch.unused, s.evictions) << "every evicted block was prefetched and unread";
  EXPECT_EQ(s.prefetch.unused, kFiles - s.blocks);
  ASSERT_EQ(s.epochs.size(), 1u);
  EXPECT_EQ(s.epochs[0].prefetched, kFiles);
  EXPECT_EQ(s.epochs[0].prefetchUnused, s.prefetch.unused);
  sampler.stop();
  EXPECT_LE(sampler.maxUsed(), opts_.sizeBytes);
  EXPECT_LE(sampler.maxDisk(), opts_.sizeBytes);
  expectEpochsAddUp(*cache);
}

// A prefetch that fails (an origin error, or a file changed since the plan) is counted, and
// the reader still gets the right bytes (the current version) from a demand read. The failing
// block is the plan's last (see PrefetchGetsPastAFailedBlock for one earlier).
void BlockCachePrefetchTest::lastPlannedBlockFails(bool stale) {
  constexpr size_t kFiles = 40;  // all fit
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  const std::vector<size_t> order = shuffled(9);
  const std::vector<FileRef> planned = refs(order);
  const size_t last = order[kFiles - 1];
  if (stale) {
    // Changed after the plan: its prefetch (with the old etag) is kStale.
    bytes_[last] = patternBytes(kBlock, 1000);
    files_[last] = put(files_[last].key, bytes_[last]);
    ASSERT_NE(files_[last].etag, planned.back().etag);
  } else {
    gated_.failOnce(files_[last].key, Code::kUnavailable);
  }
  ASSERT_EQ(cache->addPlan(planned, 0), kFiles);
  cache->startPrefetch(2);
  settle();
  CacheStats s = cache->stats();
  ASSERT_GE(s.prefetch.prefetched + s.prefetch.failed, kFiles)
      << "the prefetchers did not try every planned block: " << describe(s);
  EXPECT_EQ(s.prefetch.failed, 1u);
  EXPECT_EQ(s.prefetch.prefetched, kFiles - 1);
  EXPECT_EQ(s.blocks, kFiles - 1);
  for (size_t i : order) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
  s = cache->stats();
  EXPECT_EQ(s.hits, kFiles - 1);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(gated_.readsOf(files_[last].key), 2u) << "the failed prefetch, then the read";
  EXPECT_EQ(s.checksumFailures, 0u);
  if (stale) {
    // The outdated version is refused, not served.
    auto old = readRange(*cache, planned.back(), 0, kBlock);
    ASSERT_FALSE(old.isOk());
    EXPECT_EQ(old.status().code(), Code::kStale);
  }
}

TEST_F(BlockCachePrefetchTest, OriginErrorInAPrefetchIsLeftToTheDemandRead) {
  lastPlannedBlockFails(/*stale=*/false);
}

TEST_F(BlockCachePrefetchTest, StalePrefetchIsLeftToTheDemandReadOfTheNewVersion) {
  lastPlannedBlockFails(/*stale=*/true);
}

// A block whose prefetch failed is left to demand reads (Policy::onPrefetchFailed): the plan's
// scan moves past it instead of naming it again and again, so one failure does not stop the
// prefetch of everything after it.
TEST_F(BlockCachePrefetchTest, PrefetchGetsPastAFailedBlock) {
  constexpr size_t kFiles = 40;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  const std::vector<size_t> order = shuffled(9);
  gated_.failOnce(files_[order[0]].key, Code::kUnavailable);
  gated_.failOnce(files_[order[5]].key, Code::kUnavailable);
  ASSERT_EQ(cache->addPlan(refs(order), 0), kFiles);
  cache->startPrefetch(2);
  settle();
  CacheStats s = cache->stats();
  EXPECT_GE(s.prefetch.prefetched + s.prefetch.failed, kFiles)
      << "the prefetchers did not get past the failures: " << describe(s);
  EXPECT_EQ(s.prefetch.failed, 2u);
  for (size_t i : order) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
}

}  // namespace epochfs::cache::testing
