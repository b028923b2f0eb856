// The cache with the "epoch" policy: stable policy ids, per-epoch counters, the prefetchers
// (passive and following a plan), failures, single flight with a demand read, shutdown.
//
// Nothing here asserts on wall-clock time: a test waits (with a generous deadline) for a
// condition and fails naming it if it never holds.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/BlockCacheImpl.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

using namespace std::chrono_literals;

// An origin in front of another that counts calls and bytes, can hold the reads of one key
// until the test releases them, and can fail the next read of a key.
class GatedOrigin final : public origin::Origin {
 public:
  explicit GatedOrigin(origin::Origin& inner) : inner_(inner) {}

  // Reads of `key` block from now on until release().
  void gate(const std::string& key) {
    std::lock_guard<std::mutex> g(mu_);
    gated_ = key;
  }
  void release() {
    {
      std::lock_guard<std::mutex> g(mu_);
      gated_.reset();
    }
    cv_.notify_all();
  }
  // The next read of `key` fails with `code`.
  void failOnce(const std::string& key, Code code) {
    std::lock_guard<std::mutex> g(mu_);
    failures_[key] = code;
  }
  // Reads blocked at the gate now.
  int waiting() const {
    std::lock_guard<std::mutex> g(mu_);
    return waiting_;
  }
  uint64_t bytes() const { return bytes_.load(); }
  uint64_t readsOf(const std::string& key) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = reads_.find(key);
    return it == reads_.end() ? 0 : it->second;
  }

  std::string describe() const override { return "gated:" + inner_.describe(); }
  // What maxConcurrency() answers (0: no limit, as a directory).
  void setMaxConcurrency(unsigned n) { maxConcurrency_ = n; }
  unsigned maxConcurrency() const override { return maxConcurrency_.load(); }
  Result<origin::ObjectInfo> stat(std::string_view key) override { return inner_.stat(key); }
  Result<std::vector<origin::DirEntry>> list(std::string_view key) override {
    return inner_.list(key);
  }
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override {
    {
      std::unique_lock<std::mutex> g(mu_);
      reads_[std::string(key)]++;
      if (gated_ && *gated_ == key) {
        ++waiting_;
        cv_.wait(g, [&] { return !gated_ || *gated_ != key; });
        --waiting_;
      }
      if (auto f = failures_.find(std::string(key)); f != failures_.end()) {
        Status st(f->second, "injected failure reading " + std::string(key));
        failures_.erase(f);
        return st;
      }
    }
    Result<size_t> r = inner_.read(key, etag, offset, out);
    if (r.isOk()) bytes_ += *r;
    return r;
  }

 private:
  origin::Origin& inner_;
  std::atomic<unsigned> maxConcurrency_{0};
  mutable std::mutex mu_;  // guards all below but bytes_
  std::condition_variable cv_;
  std::optional<std::string> gated_;
  int waiting_ = 0;
  std::map<std::string, uint64_t> reads_;
  std::map<std::string, Code> failures_;
  std::atomic<uint64_t> bytes_{0};
};

// Polls `cond` until it holds or `limit` passes.
template <typename Cond>
bool waitFor(Cond cond, std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Samples the cache's own usage and the dir's real disk usage in the background.
class SizeSampler {
 public:
  SizeSampler(BlockCache& cache, std::string dir)
      : thread_([this, &cache, dir = std::move(dir)] {
          while (!stop_.load()) {
            maxUsed_ = std::max<uint64_t>(maxUsed_, cache.stats().usedBytes);
            maxDisk_ = std::max<uint64_t>(maxDisk_, diskUsage(dir));
            samples_++;
            std::this_thread::sleep_for(1ms);
          }
        }) {}
  ~SizeSampler() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t maxUsed() const { return maxUsed_.load(); }
  uint64_t maxDisk() const { return maxDisk_.load(); }
  uint64_t samples() const { return samples_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> maxUsed_{0}, maxDisk_{0}, samples_{0};
  std::thread thread_;
};

// Cheap bytes that differ per file and per position.
std::string patternBytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < n; ++i) {
    if (i % 8 == 0) {
      x ^= x >> 30;
      x *= 0xbf58476d1ce4e5b9ULL;
      x ^= x >> 27;
    }
    s[i] = static_cast<char>(x >> (8 * (i % 8)));
  }
  return s;
}

// The counters a failed wait reports.
std::string describe(const CacheStats& s) {
  std::ostringstream o;
  o << "blocks " << s.blocks << ", used " << s.usedBytes << " of " << s.limitBytes << ", hits "
    << s.hits << ", misses " << s.misses << ", evictions " << s.evictions << ", not admitted "
    << s.notAdmitted << "; prefetched " << s.prefetch.prefetched << ", declined "
    << s.prefetch.declined << ", failed " << s.prefetch.failed << ", unused "
    << s.prefetch.unused << "; policy epoch " << s.policy.epoch << ", queue "
    << s.policy.prefetchQueue << ", in flight " << s.policy.prefetchInFlight << ", plan "
    << (s.policy.planActive ? "active" : "inactive") << " (" << s.policy.planRemaining
    << " left); clock epoch " << s.epoch;
  return o.str();
}

// Whether the per-epoch counters add up to the global ones and the origin's own count; `why`
// says how not.
bool epochsAddUp(const CacheStats& s, uint64_t originCounted, std::string* why) {
  EpochStats sum;
  uint64_t prev = 0;
  for (const EpochStats& e : s.epochs) {
    if (e.epoch <= prev) {
      *why = "epochs out of order: " + std::to_string(prev) + " then " + std::to_string(e.epoch);
      return false;
    }
    prev = e.epoch;
    sum.reads += e.reads;
    sum.hits += e.hits;
    sum.hitBytes += e.hitBytes;
    sum.missBytes += e.missBytes;
    sum.originBytes += e.originBytes;
    sum.prefetched += e.prefetched;
    sum.prefetchUnused += e.prefetchUnused;
  }
  std::ostringstream o;
  auto check = [&](const char* what, uint64_t got, uint64_t want) {
    if (got != want) o << what << ": epochs sum to " << got << ", expected " << want << "; ";
  };
  check("reads", sum.reads, s.hits + s.misses);
  check("hits", sum.hits, s.hits);
  check("hitBytes", sum.hitBytes, s.hitBytes);
  check("missBytes", sum.missBytes, s.missBytes);
  check("originBytes", sum.originBytes, s.originBytes);
  check("originBytes (origin's count)", s.originBytes, originCounted);
  check("prefetched", sum.prefetched, s.prefetch.prefetched);
  check("prefetchUnused", sum.prefetchUnused, s.prefetch.unused);
  *why = o.str();
  return why->empty();
}

class BlockCachePrefetchTest : public BlockCacheTest {
 protected:
  BlockCachePrefetchTest() { opts_.sizeBytes = 8 * config::kMiB; }

  std::unique_ptr<BlockCache> openCache(std::unique_ptr<policy::Policy> policy) {
    auto c = BlockCache::open(opts_, gated_, std::move(policy));
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    return c.isOk() ? std::move(*c) : nullptr;
  }
  std::unique_ptr<BlockCache> openEpoch() { return openCache(makePolicy("epoch")); }

  // `n` files of one block each.
  void makeFiles(size_t n, uint64_t size = kBlock) {
    for (size_t i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "train/%04zu.jpg", i);
      std::string bytes = patternBytes(size, i + 1);
      files_.push_back(put(name, bytes));
      bytes_.push_back(std::move(bytes));
    }
  }
  // Reads file `i` whole and checks its bytes.
  void readFile(BlockCache& c, size_t i) {
    auto got = readRange(c, files_[i], 0, files_[i].size);
    ASSERT_TRUE(got.isOk()) << files_[i].key << ": " << got.status().toString();
    ASSERT_TRUE(*got == bytes_[i]) << files_[i].key << ": wrong bytes";
  }
  std::vector<size_t> shuffled(uint64_t seed) const {
    std::vector<size_t> order(files_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    return order;
  }
  std::vector<FileRef> refs(const std::vector<size_t>& order) const {
    std::vector<FileRef> out;
    for (size_t i : order) out.push_back(files_[i]);
    return out;
  }
  // No room for another block: what stops a prefetcher that may evict nothing.
  bool full(const CacheStats& s) const {
    const uint64_t room = s.limitBytes > s.usedBytes ? s.limitBytes - s.usedBytes : 0;
    return room < metadataReserve(opts_.sizeBytes) + 2 * kBlock;
  }
  // Waits until the epoch counters add up (prefetchers may be between two counter updates).
  void expectEpochsAddUp(BlockCache& c) {
    std::string why;
    bool ok = waitFor([&] { return epochsAddUp(c.stats(), gated_.bytes(), &why); });
    EXPECT_TRUE(ok) << why;
  }

  void lastPlannedBlockFails(bool stale);
  void readDuringPrefetch(BlockCache& cache, size_t i);

  GatedOrigin gated_{faulty_};
  std::vector<FileRef> files_;
  std::vector<std::string> bytes_;
};

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
  ASSERT_TRUE(waitFor([&] {
    s = cache->stats();
    return s.policy.prefetchInFlight == 0 && full(s);
  })) << "the prefetchers never filled the cache: " << s.blocks << " blocks";
  s = cache->stats();  // idle: a snapshot no prefetch is between two counters of
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
    ASSERT_TRUE(waitFor([&] {
      CacheStats now = cache->stats();
      // Blocks read and still cached (only read blocks are evicted while the plan runs).
      const uint64_t readCached = (now.hits - base.hits) - (now.evictions - base.evictions);
      return now.policy.prefetchInFlight == 0 &&
             (now.prefetch.prefetched == kFiles || readCached == 0 ||
              now.prefetch.declined > declined);
    })) << "the prefetchers did nothing after read " << r + 1 << ": "
        << describe(cache->stats());
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
  CacheStats s;
  ASSERT_TRUE(waitFor([&] {
    s = cache->stats();
    return s.policy.prefetchInFlight == 0 && full(s);
  })) << "the prefetchers never filled the cache: " << s.blocks << " blocks";
  const uint64_t warm = s.blocks;
  const uint64_t before = gated_.bytes();
  for (size_t i : order) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
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
  for (size_t i : first) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
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
    ASSERT_TRUE(waitFor([&] {
      CacheStats now = cache->stats();
      const uint64_t admittedMisses =
          (now.misses - base.misses) - (now.notAdmitted - base.notAdmitted);
      const uint64_t victims = (now.hits - base.hits) + admittedMisses;
      const uint64_t evicted = now.evictions - base.evictions;
      return now.policy.prefetchInFlight == 0 &&
             (victims <= evicted || now.policy.prefetchQueue == 0 ||
              now.prefetch.declined > declined);
    })) << "the prefetchers did not refill the room of read " << r + 1 << ": "
        << describe(cache->stats());
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
  ASSERT_TRUE(waitFor([&] { return cache->stats().blocks == 2 * kFiles; }))
      << describe(cache->stats());
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
  CacheStats s;
  ASSERT_TRUE(waitFor([&] {
    s = cache->stats();
    return s.prefetch.prefetched + s.prefetch.declined + s.prefetch.failed >= kFiles;
  })) << "prefetched " << s.prefetch.prefetched << " of " << kFiles;
  s = cache->stats();  // all done: a snapshot no prefetch is between two counters of
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
  CacheStats s;
  ASSERT_TRUE(waitFor([&] {
    s = cache->stats();
    return s.prefetch.prefetched + s.prefetch.failed >= kFiles;
  })) << "the prefetchers did not try every planned block: " << describe(s);
  s = cache->stats();  // all done: a snapshot no prefetch is between two counters of
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
  CacheStats s;
  EXPECT_TRUE(waitFor([&] {
    s = cache->stats();
    return s.prefetch.prefetched + s.prefetch.failed >= kFiles;
  })) << "the prefetchers did not get past the failures: " << describe(s);
  EXPECT_EQ(s.prefetch.failed, 2u);
  for (size_t i : order) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
}

// A demand read of a block a prefetcher is fetching waits for that fetch: the origin sees one
// read of it. The origin holds the prefetcher's read until the reader is waiting.
void BlockCachePrefetchTest::readDuringPrefetch(BlockCache& cache, size_t i) {
  gated_.gate(files_[i].key);
  ASSERT_EQ(cache.addPlan({files_[i]}, 0), 1u);
  cache.startPrefetch(1);
  ASSERT_TRUE(waitFor([&] { return gated_.waiting() == 1; })) << "the prefetch never started";
  std::thread reader([&] { readFile(cache, i); });
  const bool joined = waitFor([&] { return cache.stats().singleFlightWaits == 1; });
  gated_.release();
  reader.join();
  ASSERT_TRUE(joined) << "the demand read did not wait for the prefetch";
  ASSERT_TRUE(waitFor([&] { return cache.stats().prefetch.prefetched == 1; }));
}

// Readers streaming large files at once interleave their 16 KiB reads: each block is read in
// many pieces with other readers' pieces in between. The policy and the epoch clock must see
// one read per block, or every piece would consume a plan position of the next epoch. With a
// plan for every pass, each pass is one epoch and the origin sends (1 - c) of the data.
TEST_F(BlockCachePrefetchTest, InterleavedStreamsOfLargeFilesAreOneReadPerBlock) {
  constexpr size_t kFiles = 8;
  constexpr uint64_t kFileBlocks = 32;  // 2 MiB files: 16 MiB, twice the cache
  constexpr uint64_t kPiece = 16 * 1024;
  makeFiles(kFiles, kFileBlocks * kBlock);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  cache->startPrefetch(2);
  constexpr int kPasses = 3;
  for (int pass = 0; pass < kPasses; ++pass) {
    const std::vector<size_t> order = shuffled(static_cast<uint64_t>(pass) + 30);
    // The plan: the files in order. The readers: four streams at a time, round robin.
    ASSERT_EQ(cache->addPlan(refs(order), 0), kFiles * kFileBlocks);
    for (size_t group = 0; group < kFiles; group += 4) {
      for (uint64_t off = 0; off < kFileBlocks * kBlock; off += kPiece) {
        for (size_t j = group; j < group + 4; ++j) {
          const size_t i = order[j];
          auto got = readRange(*cache, files_[i], off, kPiece);
          ASSERT_TRUE(got.isOk()) << got.status().toString();
          ASSERT_TRUE(*got == bytes_[i].substr(off, kPiece)) << files_[i].key << " at " << off;
        }
      }
    }
  }
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.epoch, static_cast<uint64_t>(kPasses)) << describe(s);
  ASSERT_EQ(s.epochs.size(), static_cast<size_t>(kPasses)) << describe(s);
  const uint64_t total = kFiles * kFileBlocks * kBlock;
  const uint64_t held = s.blocks * kBlock;  // what the cache holds once full
  ASSERT_GT(held, total / 4) << describe(s);
  for (size_t k = 1; k < s.epochs.size(); ++k) {
    const EpochStats& e = s.epochs[k];
    EXPECT_EQ(e.reads, total / kPiece) << "epoch " << e.epoch << ": " << describe(s);
    // The blocks cached when the epoch began are read from the cache, not fetched again. (How
    // much more prefetch saves depends on how far the unpaced readers outrun it.)
    EXPECT_LE(e.originBytes, total - held / 2) << "epoch " << e.epoch << ": " << describe(s);
  }
}

// Over an origin with a connection limit, prefetch waits while the demand fetches out leave no
// room for every prefetcher beside them: a read never queues behind prefetches.
TEST_F(BlockCachePrefetchTest, PrefetchWaitsWhileDemandFillsTheOriginLimit) {
  makeFiles(20);
  gated_.setMaxConcurrency(2);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  cache->startPrefetch(2);
  gated_.gate(files_[0].key);
  std::thread reader([&] { readFile(*cache, 0); });  // one demand fetch, held at the gate
  ASSERT_TRUE(waitFor([&] { return gated_.waiting() == 1; }));
  std::vector<size_t> rest;
  for (size_t i = 1; i < files_.size(); ++i) rest.push_back(i);
  ASSERT_GT(cache->addPlan(refs(rest), 0), 0u);
  // 1 demand + 2 prefetchers > 2: nothing may start. Give a wrong prefetcher time to show.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(cache->stats().prefetch.prefetched, 0u);
  for (size_t i : rest) EXPECT_EQ(gated_.readsOf(files_[i].key), 0u) << files_[i].key;
  gated_.release();
  reader.join();
  EXPECT_TRUE(waitFor([&] { return cache->stats().prefetch.prefetched > 0; }))
      << "prefetch did not start once the demand fetch was done";
}

// A reader that joined a prefetch which then failed fetches for itself: a prefetch's
// transient error is no answer to a read.
TEST_F(BlockCachePrefetchTest, ReaderOfAFailedPrefetchFetchesItself) {
  makeFiles(3);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  gated_.gate(files_[0].key);
  gated_.failOnce(files_[0].key, Code::kUnavailable);  // the prefetch's read, once released
  ASSERT_EQ(cache->addPlan({files_[0]}, 0), 1u);
  cache->startPrefetch(1);
  ASSERT_TRUE(waitFor([&] { return gated_.waiting() == 1; })) << "the prefetch never started";
  std::thread reader([&] { readFile(*cache, 0); });  // asserts the bytes
  const bool joined = waitFor([&] { return cache->stats().singleFlightWaits == 1; });
  gated_.release();
  reader.join();
  ASSERT_TRUE(joined) << "the demand read did not wait for the prefetch";
  CacheStats s = cache->stats();
  EXPECT_EQ(s.prefetch.failed, 1u);
  EXPECT_EQ(gated_.readsOf(files_[0].key), 2u) << "the failed prefetch, then the reader's own";
}

TEST_F(BlockCachePrefetchTest, DemandReadJoinsThePrefetchInFlight) {
  makeFiles(3);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  ASSERT_NO_FATAL_FAILURE(readDuringPrefetch(*cache, 0));
  EXPECT_EQ(gated_.readsOf(files_[0].key), 1u);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.blocks, 1u);
  ASSERT_NO_FATAL_FAILURE(readFile(*cache, 0));
  EXPECT_EQ(cache->stats().hits, 1u);
  EXPECT_EQ(gated_.readsOf(files_[0].key), 1u);
}

// A fill caches the version it fetched even when another version of the block was seen (and
// is the latest seen) while the fetch was out: a reader of the fetched version then hits.
TEST_F(BlockCachePrefetchTest, FillKeepsItsVersionWhenAnotherWasSeenMeanwhile) {
  makeFiles(1);
  auto cache = openCache(makePolicy("lru"));
  ASSERT_TRUE(cache);
  gated_.gate(files_[0].key);
  std::thread reader([&] { readFile(*cache, 0); });
  const bool fetching = waitFor([&] { return gated_.waiting() == 1; });
  FileRef other = files_[0];
  other.etag += "-other";
  cache->addPlan({other}, 0);  // registers `other` as the latest version seen
  gated_.release();
  reader.join();
  ASSERT_TRUE(fetching) << "the demand read never reached the origin";
  ASSERT_EQ(cache->stats().blocks, 1u);
  ASSERT_NO_FATAL_FAILURE(readFile(*cache, 0));
  CacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.staleDrops, 0u);
  EXPECT_EQ(gated_.readsOf(files_[0].key), 1u);
}

// A block a demand read took from its prefetch (it joined the flight) was read: evicting it
// later does not count it in prefetch.unused.
TEST_F(BlockCachePrefetchTest, BlockReadThroughItsPrefetchIsNotUnused) {
  makeFiles(200);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  ASSERT_NO_FATAL_FAILURE(readDuringPrefetch(*cache, 0));
  // Block 0 is the oldest read block, so the first victim once the cache is full.
  for (size_t i = 1; i < files_.size(); ++i) ASSERT_NO_FATAL_FAILURE(readFile(*cache, i));
  CacheStats s = cache->stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.prefetch.unused, 0u) << "a block read while its prefetch was in flight";
}

// Destroying the cache while prefetchers wait on a slow origin returns once their reads do.
TEST_F(BlockCachePrefetchTest, DestroyWithPrefetchersOnASlowOriginReturns) {
  makeFiles(100);
  auto cache = openEpoch();
  ASSERT_TRUE(cache);
  faulty_.setReadDelay(300ms);
  ASSERT_EQ(cache->addPlan(refs(shuffled(2)), 0), 100u);
  cache->startPrefetch(2);
  ASSERT_TRUE(waitFor([&] { return cache->stats().policy.prefetchInFlight > 0; }));
  std::atomic<bool> done{false};
  std::thread destroyer([&] {
    cache.reset();
    done = true;
  });
  if (!waitFor([&] { return done.load(); })) {
    // Joining would hang the whole suite: say why and stop.
    std::fprintf(stderr, "FAILED: ~BlockCache did not return within 20 s with prefetchers "
                         "running on a slow origin\n");
    std::abort();
  }
  destroyer.join();
  EXPECT_LT(faulty_.readCalls(), 100u) << "the prefetchers went on after the destructor began";
}

}  // namespace
}  // namespace epochfs::cache::testing
