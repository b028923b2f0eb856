// Block writes that fail for reasons other than a full disk (no free inodes, EPERM, a vanished
// directory; injected by FaultyBlockStore): the prefetchers must not download the dataset
// again and again, reads must still be served, and caching must resume once writes work.
//
// Nothing here asserts on wall-clock time or sleeps: the prefetcher runs when a test steps it
// (ManualExecutor), and the write backoff's clock moves when a test moves it.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCacheImpl.h"
#include "cache/tests/BlockCacheTestFixture.h"
#include "cache/tests/FaultyBlockStore.h"
#include "cache/tests/ManualExecutor.h"

namespace epochfs::cache::testing {
namespace {

using namespace std::chrono_literals;

class BlockCacheWriteFailureTest : public BlockCacheTest {
 protected:
  static constexpr size_t kFiles = 32;

  void SetUp() override {
    for (size_t i = 0; i < kFiles; ++i) {
      files_.push_back(put("f" + std::to_string(i), randomBytes(kBlock, i + 1)));
    }
  }

  std::unique_ptr<BlockCache> openFaulty() {
    auto e = std::make_unique<ManualExecutor>();
    exec_ = e.get();
    auto c = openBlockCache(
        opts_, faulty_, makePolicy("epoch"),
        [this](const std::string& d) { return FaultyBlockStore::open(d, failWrites_, writes_); },
        std::move(e), [this] { return now_; });
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    return c.isOk() ? std::move(*c) : nullptr;
  }
  // Runs the prefetcher until it has nothing left to do now (ManualExecutor::settle).
  void settle() { exec_->settle(); }
  // Moves the write backoff's clock past the pause now under way (at most kWriteBackoffMax).
  void pauseRunsOut(std::chrono::milliseconds pause) { now_ += pause + 1ms; }

  void readAllAndCheck(BlockCache& c) {
    for (size_t i = 0; i < kFiles; ++i) {
      ASSERT_EQ(readAll(c, files_[i]), randomBytes(kBlock, i + 1)) << files_[i].key;
    }
  }

  static std::string describe(const CacheStats& s) {
    return "origin_bytes=" + std::to_string(s.originBytes) +
           " write_failures=" + std::to_string(s.writeFailures) +
           " pauses=" + std::to_string(s.prefetch.pauses) +
           " blocks=" + std::to_string(s.blocks) +
           " prefetched=" + std::to_string(s.prefetch.prefetched);
  }

  std::vector<FileRef> files_;
  std::shared_ptr<std::atomic<bool>> failWrites_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<uint64_t>> writes_ = std::make_shared<std::atomic<uint64_t>>(0);
  ManualExecutor* exec_ = nullptr;  // the cache's, owned by it
  WriteBackoff::Clock::time_point now_ = WriteBackoff::Clock::now();  // the backoff's clock
};

// The bug: a failed write made the block "unread and not cached" again, and the prefetchers
// fetched it again at once, forever (27-34x the dataset per pass). Now a failed block is not
// prefetched again this epoch and prefetch pauses, then backs off.
TEST_F(BlockCacheWriteFailureTest, FailedWritesDoNotStartAnEndlessDownload) {
  failWrites_->store(true);
  auto cache = openFaulty();
  ASSERT_TRUE(cache);
  cache->startPrefetch(2);
  cache->discover(files_);
  // Two pauses: the first one ran out, prefetch tried again, failed again and paused longer.
  // Meanwhile the old code had fetched every block many times over.
  settle();
  ASSERT_EQ(cache->stats().prefetch.pauses, 1u) << describe(cache->stats());
  ASSERT_TRUE(cache->stats().prefetch.paused);
  pauseRunsOut(kWriteBackoffFirst);
  settle();
  ASSERT_GE(cache->stats().prefetch.pauses, 2u) << describe(cache->stats());
  CacheStats s = cache->stats();
  EXPECT_LE(s.originBytes, kFiles * kBlock) << "no block is prefetched twice";
  // (A write may be under way: it is counted once it has failed.)
  EXPECT_LE(s.writeFailures, writes_->load());
  EXPECT_GE(s.writeFailures + 2, writes_->load()) << "every failed write is counted";
  EXPECT_GE(s.writeFailures, 2u);
  EXPECT_LT(s.writeFailures, kFiles) << "prefetch paused instead of trying every block";
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(s.prefetch.prefetched, 0u);

  // Demand reads are never paused: served from the origin, with the right bytes.
  ASSERT_NO_FATAL_FAILURE(readAllAndCheck(*cache));
  s = cache->stats();
  EXPECT_EQ(s.misses, kFiles);
  EXPECT_LE(s.originBytes, 2 * kFiles * kBlock) << describe(s);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_TRUE(s.prefetch.paused || s.prefetch.pauses >= 2) << describe(s);
}

// Once writes work again, a demand read's write ends the episode at once (no waiting for the
// backoff), and blocks are cached again.
TEST_F(BlockCacheWriteFailureTest, ASuccessfulWriteEndsThePauseAndCachingResumes) {
  failWrites_->store(true);
  auto cache = openFaulty();
  ASSERT_TRUE(cache);
  ASSERT_EQ(readAll(*cache, files_[0]), randomBytes(kBlock, 1));
  CacheStats s = cache->stats();
  EXPECT_EQ(s.writeFailures, 1u);
  EXPECT_EQ(s.prefetch.pauses, 1u);
  EXPECT_TRUE(s.prefetch.paused) << "paused at once, by a demand read's failed write";

  failWrites_->store(false);
  ASSERT_EQ(readAll(*cache, files_[1]), randomBytes(kBlock, 2));
  s = cache->stats();
  EXPECT_FALSE(s.prefetch.paused) << "a successful write resumes prefetch";
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.writeFailures, 1u);

  // Prefetch works again: the rest of the directory is fetched ahead, each block once.
  cache->startPrefetch(2);
  cache->discover(files_);
  settle();
  ASSERT_EQ(cache->stats().blocks, kFiles - 1) << describe(cache->stats());
  ASSERT_NO_FATAL_FAILURE(readAllAndCheck(*cache));
  s = cache->stats();
  EXPECT_EQ(s.writeFailures, 1u);
  EXPECT_EQ(s.blocks, kFiles) << "file 0, read while writes failed, was cached by its reread";
  // f0 twice (its first write failed), every other file once.
  EXPECT_EQ(s.originBytes, (kFiles + 1) * kBlock) << describe(s);
}

// Writes that fail while prefetching, then work: the blocks not yet tried are prefetched once
// the pause is over, those that failed are left to their reads (not fetched again this epoch).
TEST_F(BlockCacheWriteFailureTest, PrefetchResumesAfterThePauseWithTheBlocksNotYetTried) {
  failWrites_->store(true);
  auto cache = openFaulty();
  ASSERT_TRUE(cache);
  cache->startPrefetch(2);
  cache->discover(files_);
  settle();
  ASSERT_GE(cache->stats().writeFailures, 1u);
  EXPECT_TRUE(cache->stats().prefetch.paused);
  failWrites_->store(false);
  // The pause runs out by itself: every block was either tried and failed, or is cached.
  pauseRunsOut(kWriteBackoffFirst);
  settle();
  {
    CacheStats now = cache->stats();
    ASSERT_EQ(now.blocks + now.writeFailures, kFiles) << describe(now);
  }
  const uint64_t failed = cache->stats().writeFailures;
  ASSERT_NO_FATAL_FAILURE(readAllAndCheck(*cache));
  CacheStats s = cache->stats();
  EXPECT_FALSE(s.prefetch.paused);
  EXPECT_EQ(s.misses, failed) << "only the blocks whose write failed were missed";
  EXPECT_EQ(s.originBytes, (kFiles + failed) * kBlock) << describe(s);
}

}  // namespace
}  // namespace epochfs::cache::testing
