// BlockCacheImpl: construction and stats; the paths are in
// BlockCacheRead.cc, BlockCacheFill.cc and BlockCachePrefetch.cc.
#include "cache/BlockCacheImpl.h"

namespace epochfs::cache {

BlockCacheImpl::BlockCacheImpl(const config::CacheOptions& opts, origin::Origin& origin,
                               std::unique_ptr<policy::Policy> policy, CacheDirLock lock,
                               std::unique_ptr<BlockStore> store, std::unique_ptr<Index> index,
                               std::unique_ptr<Executor> executor, SteadyNow now)
    : opts_(opts),
      now_(now ? std::move(now) : SteadyNow(&WriteBackoff::Clock::now)),
      origin_(origin),
      lock_(std::move(lock)),
      store_(std::move(store)),
      index_(std::move(index)),
      policy_(std::move(policy)),
      space_(opts.sizeBytes, opts.minFreeBytes, opts.blockSizeBytes),
      grains_({opts.blockSizeBytes, opts.randomGrains, opts.randomBlockSizeBytes}),
      meta_(opts.dir, [this] { return index_->diskBytes() + store_->directoryBytes(); }),
      prefetcher_(*this, std::move(executor)) {}

// The prefetchers stop first (they use everything else). Then members go in reverse order: the
// policy, then the index (RocksDB closes; every write is already in its WAL), then the store,
// and the dir lock last, so nobody can open the dir while the index is still open.
BlockCacheImpl::~BlockCacheImpl() { prefetcher_.stop(); }

std::string BlockCacheImpl::policyName() const { return std::string(policy_->name()); }

void BlockCacheImpl::refreshMeta(bool force) const {
  const std::optional<uint64_t> bytes = meta_.measureIfDue(force);
  if (!bytes) return;
  std::lock_guard<std::mutex> g(mu_);
  space_.setMeta(*bytes);
}

void BlockCacheImpl::countMiss(uint64_t bytes) {
  counters_.misses++;
  counters_.missBytes += bytes;
  std::lock_guard<std::mutex> g(mu_);
  EpochStats& e = epochs_.current();
  e.reads++;
  e.missBytes += bytes;
}

void BlockCacheImpl::recordStall(const Stall& stall) {
  std::lock_guard<std::mutex> g(mu_);
  epochs_.current().stalls.record(stall);
  stalls_.record(stall);
}

void BlockCacheImpl::countOrigin(uint64_t bytes) {
  counters_.originBytes += bytes;
  std::lock_guard<std::mutex> g(mu_);
  epochs_.current().originBytes += bytes;
}

CacheStats BlockCacheImpl::stats() const {
  refreshMeta(/*force=*/true);
  CacheStats s;
  s.limitBytes = opts_.sizeBytes;
  s.blockSizeBytes = opts_.blockSizeBytes;
  counters_.copyTo(s);
  s.randomFiles = grains_.randomFiles();
  std::lock_guard<std::mutex> g(mu_);
  s.usedBytes = space_.usedBytes();
  s.blocks = cached_.size();
  s.prefetch = prefetcher_.counters();
  s.prefetch.threads = prefetcher_.threads();
  s.prefetch.paused = writeBackoff_.paused(now_());
  s.prefetch.pauses = writeBackoff_.pauses();
  s.policy = policy_->info();
  s.epoch = epochs_.epoch();
  s.stalls = stalls_;
  s.epochs = epochs_.history();
  s.whole.held = pins_.size();
  s.whole.heldEvictedBytes = space_.heldBytes();
  return s;
}

}  // namespace epochfs::cache
