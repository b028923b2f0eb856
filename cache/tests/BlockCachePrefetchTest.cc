// The cache with the "epoch" policy: stable policy ids, per-epoch counters, and the
// prefetchers, passive, following a plan, and driven by listings (PrefetchTestFixture.h).
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
namespace {

// Passes in fresh random orders over twice what the cache holds. An evicted block that is
// fetched again keeps its policy id, so the epoch clock sees every pass as an epoch, and each
// epoch hits the blocks cached when it began: the cache fraction, as "fixed" would.
TEST_F(BlockCachePrefetchTest, StableIdsMakeEveryPassAnEpochHittingTheCacheFraction) {
  constexpr size_t kFiles = 200;
  constexpr int kPasses = 5;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  std::vector<double> cachedAtStart;
  for (int pass = 0; pass < kPasses; ++pass) {
    cachedAtStart.push_back(static_cast<double>(cache->stats().blocks) / kFiles);
    for (size_t i : shuffled(static_cast<uint64_t>(pass) + 10)) {
      ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
    }
  }
  CacheStats s = cache->stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.epoch, static_cast<uint64_t>(kPasses));
  ASSERT_EQ(s.epochs.size(), static_cast<size_t>(kPasses));
  EXPECT_EQ(s.epochs[0].hits, 0u);
  for (int k = 1; k < kPasses; ++k) {
    const EpochStats& e = s.epochs[static_cast<size_t>(k)];
    EXPECT_EQ(e.epoch, static_cast<uint64_t>(k + 1));
    const double c = cachedAtStart[static_cast<size_t>(k)];
    EXPECT_GT(c, 0.35) << "the cache should hold about half the data";
    EXPECT_LT(c, 0.75) << "the cache should hold about half the data";
    // A boundary may be seen a few reads late (reorder window): a few reads of tolerance.
    EXPECT_NEAR(static_cast<double>(e.reads), kFiles, 0.05 * kFiles) << "epoch " << e.epoch;
    EXPECT_NEAR(static_cast<double>(e.hits) / static_cast<double>(e.reads), c, 0.05)
        << "epoch " << e.epoch << ": " << e.hits << " hits of " << e.reads;
  }
  expectEpochsAddUp(*cache);
}

// Reads of parts of blocks, repeats and reads not admitted: every byte lands in one epoch.
TEST_F(BlockCachePrefetchTest, PerEpochCountersAddUpToTheGlobalOnes) {
  constexpr size_t kFiles = 120;
  makeFiles(kFiles, kBlock + kBlock / 2);  // a block and a half: 240 blocks
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  cache->startPrefetch(2);
  std::mt19937_64 rng(5);
  uint64_t returned = 0;
  for (int pass = 0; pass < 4; ++pass) {
    for (size_t i : shuffled(static_cast<uint64_t>(pass) + 50)) {
      // Three reads of random lengths cover the file, as a reader with a small buffer would.
      const uint64_t size = files_[i].size;
      const uint64_t a = rng() % size;
      const uint64_t b = a + rng() % (size - a);
      for (auto [from, to] : {std::pair{uint64_t{0}, a}, std::pair{a, b}, std::pair{b, size}}) {
        auto got = readRange(*cache, files_[i], from, static_cast<size_t>(to - from));
        ASSERT_TRUE(got.isOk()) << got.status().toString();
        ASSERT_TRUE(*got == bytes_[i].substr(from, to - from)) << files_[i].key;
        returned += got->size();
      }
      settle();
    }
  }
  expectEpochsAddUp(*cache);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.hitBytes + s.missBytes, returned);
  EXPECT_GE(s.epochs.size(), 4u);
  EXPECT_GT(s.epochs.back().hits, 0u);
}

// A job planned one epoch ahead (files 0-99, then 100-149) and stopped after the first; a new
// job reads files 0-99 again without plans. The cache tells the policy its clock's epochs, so
// the second plan, published in epoch 1 and not begun, is dropped in epoch 3.
TEST_F(BlockCachePrefetchTest, APlanNotReadByTheEpochAfterNextIsDiscarded) {
  constexpr size_t kFiles = 150;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  std::vector<size_t> first(100);
  std::vector<size_t> ahead(50);
  for (size_t i = 0; i < first.size(); ++i) first[i] = i;
  for (size_t i = 0; i < ahead.size(); ++i) ahead[i] = 100 + i;
  ASSERT_EQ(cache->addPlan(refs(first), 1), first.size());
  ASSERT_EQ(cache->addPlan(refs(ahead), 1), ahead.size());
  EXPECT_EQ(cache->stats().policy.activePlans, 2u);
  for (size_t i : first) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
  EXPECT_EQ(cache->stats().policy.activePlans, 1u);
  std::mt19937_64 rng(3);
  for (uint64_t pass = 2; pass <= 3; ++pass) {
    std::shuffle(first.begin(), first.end(), rng);
    for (size_t i : first) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
    const CacheStats s = cache->stats();
    ASSERT_EQ(s.epoch, pass);
    EXPECT_EQ(s.policy.activePlans, pass == 2 ? 1u : 0u) << "epoch " << pass;
    EXPECT_EQ(s.policy.plansDiscarded, pass == 2 ? 0u : 1u) << "epoch " << pass;
    EXPECT_EQ(s.policy.planActive, pass == 2) << "epoch " << pass;
  }
}

// Prefetch fills a warm cache with the plan's first blocks, and keeps ahead of a reader that
// waits for it: every read is a hit and every block is fetched once.
//
// The reader waits after each read until the prefetchers have done what they may: a block
// read is never needed again in this plan, so they evict it for the next planned one, unless
// the room it leaves is not enough (the index grew meanwhile: the cache holds a little less
// over time), in which case they decline.
TEST_F(BlockCachePrefetchTest, PlanIsPrefetchedInPlanOrder) {
  constexpr size_t kFiles = 200;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  const std::vector<size_t> order = shuffled(3);
  ASSERT_EQ(cache->addPlan(refs(order), 7), kFiles);
  CacheStats s = cache->stats();
  EXPECT_TRUE(s.policy.planActive);
  EXPECT_EQ(s.policy.planRemaining, kFiles);
  EXPECT_EQ(s.prefetch.plans, 1u);
  EXPECT_EQ(s.prefetch.plannedFiles, kFiles);
  EXPECT_EQ(s.prefetch.plannedBlocks, kFiles);
  EXPECT_EQ(gated_.bytes(), 0u) << "no prefetch before startPrefetch";

  cache->startPrefetch(2);
  SizeSampler sampler(*cache, opts_.dir);
  settle();
  s = cache->stats();
  ASSERT_TRUE(s.policy.prefetchInFlight == 0 && full(s))
      << "the prefetchers never filled the cache: " << s.blocks << " blocks";
  const uint64_t warm = s.blocks;
  EXPECT_EQ(s.prefetch.prefetched, warm);
  EXPECT_EQ(s.prefetch.threads, 2u);
  EXPECT_GE(warm, kFiles / 3);
  EXPECT_LT(warm, kFiles);
  EXPECT_EQ(gated_.bytes(), warm * kBlock);

  const CacheStats base = s;
  for (size_t r = 0; r < kFiles; ++r) {
    const uint64_t declined = cache->stats().prefetch.declined;
    ASSERT_NO_FATAL_FAILURE(readFile(*cache, order[r]));
    settle();
    CacheStats now = cache->stats();
    // Blocks read and still cached (only read blocks are evicted while the plan runs).
    const uint64_t readCached = (now.hits - base.hits) - (now.evictions - base.evictions);
    ASSERT_TRUE(now.policy.prefetchInFlight == 0 &&
                (now.prefetch.prefetched == kFiles || readCached == 0 ||
                 now.prefetch.declined > declined))
        << "the prefetchers did nothing after read " << r + 1 << ": " << describe(now);
  }
  s = cache->stats();
  EXPECT_EQ(s.hits, kFiles) << "every read in plan order is a hit";
  EXPECT_EQ(s.misses, 0u);
  EXPECT_EQ(s.prefetch.prefetched, kFiles);
  EXPECT_EQ(s.prefetch.unused, 0u);
  EXPECT_EQ(s.prefetch.failed, 0u);
  EXPECT_EQ(gated_.bytes(), kFiles * kBlock) << "each block fetched once";
  EXPECT_FALSE(s.policy.planActive);
  EXPECT_EQ(s.policy.planRemaining, 0u);
  sampler.stop();
  EXPECT_GT(sampler.samples(), 0u);
  EXPECT_LE(sampler.maxUsed(), opts_.sizeBytes);
  EXPECT_LE(sampler.maxDisk(), opts_.sizeBytes);
  expectEpochsAddUp(*cache);
}

// A reader that does not wait for the prefetchers: what the warm cache holds is hit, and the
// rest of the epoch costs the origin each remaining block once (plus a block per prefetcher).
TEST_F(BlockCachePrefetchTest, PlanKeepsOriginTrafficAtTheFloor) {
  constexpr size_t kFiles = 200;
  constexpr unsigned kThreads = 2;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  const std::vector<size_t> order = shuffled(4);
  ASSERT_EQ(cache->addPlan(refs(order), 1), kFiles);
  cache->startPrefetch(kThreads);
  SizeSampler sampler(*cache, opts_.dir);
  settle();
  CacheStats s = cache->stats();
  ASSERT_TRUE(s.policy.prefetchInFlight == 0 && full(s))
      << "the prefetchers never filled the cache: " << s.blocks << " blocks";
  const uint64_t warm = s.blocks;
  const uint64_t before = gated_.bytes();
  {
    // The prefetchers run beside the reader, as fast as they can, on threads of the test.
    std::atomic<bool> done{false};
    std::vector<std::thread> prefetchers;
    for (unsigned t = 0; t < kThreads; ++t) {
      prefetchers.emplace_back([&] {
        while (!done.load()) exec_->runOnce();
      });
    }
    for (size_t i : order) {
      readFile(*cache, i);
      if (::testing::Test::HasFatalFailure()) break;
    }
    done = true;
    for (std::thread& t : prefetchers) t.join();
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
  }
  const uint64_t epochBytes = gated_.bytes() - before;
  s = cache->stats();
  EXPECT_GE(s.hits, warm);
  EXPECT_GE(epochBytes, (kFiles - warm) * kBlock);
  EXPECT_LE(epochBytes, (kFiles - warm + kThreads) * kBlock)
      << "blocks fetched more than once: " << epochBytes / kBlock << " fetched, "
      << kFiles - warm << " were not cached";
  sampler.stop();
  EXPECT_LE(sampler.maxUsed(), opts_.sizeBytes);
  EXPECT_LE(sampler.maxDisk(), opts_.sizeBytes);
  expectEpochsAddUp(*cache);
}

// Without a plan: in epoch 2 the prefetchers put unread blocks where read ones were, so the
// epoch hits more than the cache fraction, and no prefetched block leaves unread.
TEST_F(BlockCachePrefetchTest, PassivePrefetchBeatsTheCacheFraction) {
  constexpr size_t kFiles = 200;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  cache->startPrefetch(2);
  SizeSampler sampler(*cache, opts_.dir);
  std::vector<size_t> first(kFiles);
  for (size_t i = 0; i < kFiles; ++i) first[i] = i;
  for (size_t i : first) {
    ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
    settle();
  }
  CacheStats s = cache->stats();
  EXPECT_EQ(s.prefetch.prefetched, 0u) << "nothing is worth prefetching in the first epoch";
  const double c = static_cast<double>(s.blocks) / kFiles;

  // Epoch 2 in a random order that does not start with a block just read (so that the
  // boundary is seen at the first read, not a few reads late).
  std::vector<size_t> second = shuffled(21);
  for (size_t k = 0, j = 30; k < 30; ++k) {
    while (second[k] >= kFiles - 30) std::swap(second[k], second[j++]);
  }
  const CacheStats base = s;
  for (size_t r = 0; r < kFiles; ++r) {
    const uint64_t declined = cache->stats().prefetch.declined;
    ASSERT_NO_FATAL_FAILURE(readFile(*cache, second[r]));
    // Each hit (and each admitted miss) puts a block read in this epoch in the cache: a
    // victim, which the prefetchers replace by an unread block before the next read, unless
    // its room is not enough (the index grew) and they decline.
    settle();
    CacheStats now = cache->stats();
    const uint64_t admittedMisses =
        (now.misses - base.misses) - (now.notAdmitted - base.notAdmitted);
    const uint64_t victims = (now.hits - base.hits) + admittedMisses;
    const uint64_t evicted = now.evictions - base.evictions;
    ASSERT_TRUE(now.policy.prefetchInFlight == 0 &&
                (victims <= evicted || now.policy.prefetchQueue == 0 ||
                 now.prefetch.declined > declined))
        << "the prefetchers did not refill the room of read " << r + 1 << ": " << describe(now);
  }
  s = cache->stats();
  ASSERT_GE(s.epochs.size(), 2u);
  const EpochStats& e2 = s.epochs[1];
  EXPECT_EQ(e2.epoch, 2u);
  EXPECT_EQ(e2.reads, kFiles);
  const double ratio = static_cast<double>(e2.hits) / static_cast<double>(e2.reads);
  EXPECT_GT(ratio, c + 0.15) << "epoch 2 hit " << e2.hits << " of " << e2.reads
                             << " with a cache fraction of " << c;
  EXPECT_GT(e2.prefetched, 0u);
  EXPECT_GT(s.prefetch.prefetched, 0u);
  EXPECT_EQ(s.prefetch.unused, 0u) << "the epoch policy evicted a prefetched block unread";
  sampler.stop();
  EXPECT_LE(sampler.maxUsed(), opts_.sizeBytes);
  EXPECT_LE(sampler.maxDisk(), opts_.sizeBytes);
  expectEpochsAddUp(*cache);
}

// Listing-driven prefetch: files of a directory being read are fetched before their first
// read, so even the first epoch hits; each block comes from the origin once.
TEST_F(BlockCachePrefetchTest, DiscoveredFilesArePrefetchedBeforeTheFirstEpochReadsThem) {
  constexpr size_t kFiles = 20;
  makeFiles(kFiles, kBlock + kBlock / 2);  // two blocks each, the second one a half
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  std::vector<size_t> all = shuffled(3);
  cache->discover(refs(all));
  CacheStats s = cache->stats();
  EXPECT_EQ(s.prefetch.discoveredFiles, 0u) << "prefetch is off: nothing to discover for";
  EXPECT_EQ(gated_.bytes(), 0u);

  cache->startPrefetch(2);
  readFile(*cache, all[0]);  // the reader opened one file, and the directory was listed
  cache->discover(refs(all));
  settle();
  ASSERT_EQ(cache->stats().blocks, 2 * kFiles) << describe(cache->stats());
  s = cache->stats();
  EXPECT_EQ(s.prefetch.discoveredFiles, kFiles);
  EXPECT_EQ(s.prefetch.discoveredBlocks, 2 * (kFiles - 1)) << "the file read was known";
  EXPECT_EQ(s.prefetch.prefetched, 2 * (kFiles - 1));
  for (size_t i : all) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
  s = cache->stats();
  EXPECT_EQ(s.misses, 2u) << "only the first file's two blocks were missed";
  EXPECT_EQ(s.prefetch.unused, 0u);
  EXPECT_EQ(s.originBytes, kFiles * (kBlock + kBlock / 2)) << "each byte fetched once";
  EXPECT_EQ(s.epoch, 1u) << "discovered blocks are not reads";
  cache->discover(refs(all));  // again: nothing new
  EXPECT_EQ(cache->stats().prefetch.discoveredBlocks, 2 * (kFiles - 1));
  expectEpochsAddUp(*cache);
}

// discoverLater(): the listing runs on a prefetch worker's turn, not in the caller, and its
// files are discovered as by discover(); cancelDiscovery() drops a listing not yet run.
TEST_F(BlockCachePrefetchTest, DiscoveryListsOnAPrefetchTurn) {
  constexpr size_t kFiles = 10;
  makeFiles(kFiles);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  cache->startPrefetch(1);
  int listings = 0;
  cache->discoverLater([&] {
    ++listings;
    return refs(shuffled(1));
  });
  EXPECT_EQ(listings, 0) << "listed in the caller";
  settle();
  EXPECT_EQ(listings, 1);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.prefetch.discoveredFiles, kFiles);
  EXPECT_EQ(s.prefetch.prefetched, kFiles);

  cache->discoverLater([&] {
    ++listings;
    return refs(shuffled(2));
  });
  cache->cancelDiscovery();
  settle();
  EXPECT_EQ(listings, 1) << "a cancelled listing ran";
}

}  // namespace
}  // namespace epochfs::cache::testing
