// cache/tests/PrefetchTestFixture.h: the cache over an origin a test can hold and fail, with
// its prefetcher stepped by the test (ManualExecutor), and the checks the prefetch tests share.
//
// Nothing asserts on wall-clock time, and no test sleeps to wait for a thread: prefetch runs
// when a test steps it, and a test that needs a fetch in flight blocks on the origin's gate
// (GatedOrigin::awaitWaiting) or on the policy hearing of a miss (SignallingPolicy), with a
// generous deadline that only guards against a hang.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/BlockCacheImpl.h"
#include "cache/tests/BlockCacheTestFixture.h"
#include "cache/tests/ManualExecutor.h"

namespace epochfs::cache::testing {

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
  // Blocks until `n` reads wait at the gate; false if that takes longer than `limit` (a
  // failure guard, not a pace).
  bool awaitWaiting(int n, std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> g(mu_);
    return changed_.wait_for(g, limit, [&] { return waiting_ >= n; });
  }
  // Blocks until `n` reads have arrived (gated or not); false after `limit`.
  bool awaitReads(uint64_t n, std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> g(mu_);
    return changed_.wait_for(g, limit, [&] { return arrived_ >= n; });
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
      ++arrived_;
      changed_.notify_all();
      if (gated_ && *gated_ == key) {
        ++waiting_;
        changed_.notify_all();
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
  std::condition_variable cv_;       // the gate opened
  std::condition_variable changed_;  // a read arrived or began to wait
  std::optional<std::string> gated_;
  int waiting_ = 0;
  uint64_t arrived_ = 0;
  std::map<std::string, uint64_t> reads_;
  std::map<std::string, Code> failures_;
  std::atomic<uint64_t> bytes_{0};
};

// A policy in front of another that lets a test wait until the cache has told it of `n`
// misses: a reader's miss is reported in the same hold of the cache's lock in which it finds
// a flight to join, so once the miss is seen, the reader will wait for that flight.
class SignallingPolicy final : public policy::Policy {
 public:
  explicit SignallingPolicy(std::unique_ptr<policy::Policy> inner) : inner_(std::move(inner)) {}
  // Blocks until `n` misses were reported; false after `limit` (a failure guard).
  bool awaitMisses(uint64_t n, std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, limit, [&] { return misses_ >= n; });
  }

  std::string_view name() const override { return inner_->name(); }
  void onInsert(policy::BlockId id, uint64_t bytes) override { inner_->onInsert(id, bytes); }
  void onAccess(policy::BlockId id) override { inner_->onAccess(id); }
  void onTouch(policy::BlockId id) override { inner_->onTouch(id); }
  void onErase(policy::BlockId id) override { inner_->onErase(id); }
  bool shouldAdmit(uint64_t bytes, uint64_t toFree) override {
    return inner_->shouldAdmit(bytes, toFree);
  }
  std::optional<policy::BlockId> pickVictim() override { return inner_->pickVictim(); }
  size_t size() const override { return inner_->size(); }
  void onMiss(policy::BlockId id) override {
    inner_->onMiss(id);
    {
      std::lock_guard<std::mutex> g(mu_);
      ++misses_;
    }
    cv_.notify_all();
  }
  void onDiscovered(policy::BlockId id) override { inner_->onDiscovered(id); }
  void onEpoch(uint64_t epoch) override { inner_->onEpoch(epoch); }
  void onReaderEpoch(uint64_t epoch) override { inner_->onReaderEpoch(epoch); }
  std::optional<policy::BlockId> nextPrefetch(uint64_t freeBytes) override {
    return inner_->nextPrefetch(freeBytes);
  }
  bool shouldAdmitPrefetch(policy::BlockId id, uint64_t bytes, uint64_t toFree) override {
    return inner_->shouldAdmitPrefetch(id, bytes, toFree);
  }
  void onPrefetched(policy::BlockId id, uint64_t bytes) override {
    inner_->onPrefetched(id, bytes);
  }
  void onPrefetchAbandoned(policy::BlockId id) override { inner_->onPrefetchAbandoned(id); }
  void onPrefetchFailed(policy::BlockId id) override { inner_->onPrefetchFailed(id); }
  void onPrefetchLead(uint64_t positions) override { inner_->onPrefetchLead(positions); }
  bool addPlan(const std::vector<policy::BlockId>& order, uint64_t stream) override {
    return inner_->addPlan(order, stream);
  }
  bool resumePlan(const std::vector<policy::BlockId>& order, uint64_t stream) override {
    return inner_->resumePlan(order, stream);
  }
  uint64_t plansDiscarded() const override { return inner_->plansDiscarded(); }
  policy::PolicyInfo info() const override { return inner_->info(); }

 private:
  std::unique_ptr<policy::Policy> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t misses_ = 0;
};

// Samples the cache's own usage and the dir's real disk usage in the background.
class SizeSampler {
 public:
  SizeSampler(BlockCache& cache, std::string dir)
      : thread_([this, &cache, dir = std::move(dir)] {
          while (!stop_.load()) {
            maxUsed_ = std::max<uint64_t>(maxUsed_, cache.stats().usedBytes);
            maxDisk_ = std::max<uint64_t>(maxDisk_, diskUsage(dir));
            samples_++;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
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
inline std::string patternBytes(size_t n, uint64_t seed) {
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
inline std::string describe(const CacheStats& s) {
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
inline bool epochsAddUp(const CacheStats& s, uint64_t originCounted, std::string* why) {
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

  // Opens the cache over gated_ with its prefetcher on exec_ (ManualExecutor): prefetch runs
  // only when a test steps it.
  std::unique_ptr<BlockCache> openCache(std::unique_ptr<policy::Policy> policy) {
    auto e = std::make_unique<ManualExecutor>();
    exec_ = e.get();
    auto c = BlockCache::open(opts_, gated_, std::move(policy), std::move(e));
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    return c.isOk() ? std::move(*c) : nullptr;
  }
  std::unique_ptr<BlockCache> openEpoch() { return openCache(makePolicy("epoch")); }
  // openEpoch() with the policy behind a SignallingPolicy (signalling_).
  std::unique_ptr<BlockCache> openSignalling() {
    auto p = std::make_unique<SignallingPolicy>(makePolicy("epoch"));
    signalling_ = p.get();
    return openCache(std::move(p));
  }
  // The same with the prefetchers on threads of their own (makeThreadExecutor).
  std::unique_ptr<BlockCache> openThreaded(std::unique_ptr<policy::Policy> policy) {
    auto c = BlockCache::open(opts_, gated_, std::move(policy));
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    return c.isOk() ? std::move(*c) : nullptr;
  }
  // Runs the prefetchers until they have nothing left to do now (ManualExecutor::settle).
  void settle() { exec_->settle(); }

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
  // The epoch counters add up (no prefetch runs between two steps of the test).
  void expectEpochsAddUp(BlockCache& c) {
    std::string why;
    EXPECT_TRUE(epochsAddUp(c.stats(), gated_.bytes(), &why)) << why;
  }

  void lastPlannedBlockFails(bool stale);
  void joinPrefetchInFlight(BlockCache& cache, size_t i);
  void readDuringPrefetch(BlockCache& cache, size_t i);

  GatedOrigin gated_{faulty_};
  ManualExecutor* exec_ = nullptr;  // owned by the cache opened by openCache()
  SignallingPolicy* signalling_ = nullptr;  // owned by the cache opened by openSignalling()
  std::vector<FileRef> files_;
  std::vector<std::string> bytes_;
};

}  // namespace epochfs::cache::testing
