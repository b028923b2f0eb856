// cache/BlockCacheImpl.h: the BlockCache behind BlockCache::open() (private to cache/).
//
// Read path (BlockCacheImpl.cc): per block, a hit is pread from its file and its touched
// chunks verified; a miss joins or leads a single-flight fetch of the whole block, and the
// leader then offers the block to the Policy and writes it (BlockCacheFill.cc).
// Prefetch, plans and per-epoch counters (BlockCachePrefetch.cc): every block ever seen gets a
// stable policy id (BlockId below names the block *file*, which changes on every fill); the
// policy only ever sees policy ids. The cache's own maps are keyed by policy id too: a block's
// key string is held once, in pids_ (known_[pid - 1].key points at it).
// open() and recovery (BlockCache.cc): the index is the truth; see BlockCache.h.
//
// Space accounting, all in allocated bytes (BlockStore::allocatedBytes):
//   allocated_   blocks in the cache
//   reserved_    blocks being written right now (taken before the write, so concurrent fills
//                cannot overshoot together)
//   unlinking_   blocks dropped from the index whose files are not unlinked yet
//   metaBytes_   index dir + store directories + LOCK, as last measured (at most ~1 s or
//                kMetaRefreshInserts inserts ago)
//   reserve_     metadataReserve(cache.size): headroom for what the index and directories may
//                grow by between two measurements
// A fill is admitted only if allocated_ + reserved_ + unlinking_ + metaBytes_ + reserve_ +
// block <= cache.size after evicting, and the filesystem keeps cache.min_free + reserve_ free.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/BlockCache.h"
#include "cache/BlockStore.h"
#include "cache/CacheDirLock.h"
#include "cache/Checksum.h"
#include "cache/Index.h"
#include "cache/IndexNamespaceStore.h"
#include "cache/WriteBackoff.h"
#include "policy/EpochAware.h"

namespace epochfs::cache {

// Headroom kept for metadata growth between measurements: 1% of cache.size, at least 1 MiB
// (a memtable flush plus a few new directories) and at most 64 MiB.
uint64_t metadataReserve(uint64_t cacheSizeBytes);

// Sets the damaged index of cache dir `dir` aside (setAsideIndex) and logs it with `cause`.
Status resetIndex(const std::string& dir, const Status& cause);

// BlockCache::open() with the block store that `openStore` makes for the cache dir:
// BlockStore::open, or a test's double (cache/tests/FaultyBlockStore.h).
using StoreOpener = std::function<Result<std::unique_ptr<BlockStore>>(const std::string& dir)>;
Result<std::unique_ptr<BlockCache>> openBlockCache(const config::CacheOptions& opts,
                                                   origin::Origin& origin,
                                                   std::unique_ptr<policy::Policy> policy,
                                                   const StoreOpener& openStore);

// How long prefetch pauses after a block write failed (WriteBackoff): 1 s, doubling while
// the writes keep failing, up to 1 min.
inline constexpr std::chrono::seconds kWriteBackoffFirst{1};
inline constexpr std::chrono::seconds kWriteBackoffMax{60};

class BlockCacheImpl final : public BlockCache {
 public:
  BlockCacheImpl(const config::CacheOptions& opts, origin::Origin& origin,
                 std::unique_ptr<policy::Policy> policy, CacheDirLock lock,
                 std::unique_ptr<BlockStore> store, std::unique_ptr<Index> index);
  ~BlockCacheImpl() override;

  // Crash recovery; called once by open() before the cache is shared. `indexWasReset`: open()
  // set a damaged index aside already (counted); otherwise a scan that finds the index damaged
  // sets it aside here (IndexReset.h) and recovery goes on with an empty one.
  Status recover(bool indexWasReset);

  Result<size_t> read(const FileRef& file, uint64_t offset, std::span<std::byte> out) override;
  CacheStats stats() const override;
  std::string policyName() const override;
  void startPrefetch(unsigned threads) override;
  void planFiles(const std::vector<FileRef>& files, PlanOrder& order) override;
  uint64_t publishPlan(PlanOrder order, uint64_t stream) override;
  void discover(const std::vector<FileRef>& files) override;
  NamespaceStore& namespaceStore() override { return namespaceStore_; }

 private:
  using PolicyId = policy::BlockId;
  // The in-memory copy of one index entry, in entries_ under its block's policy id. The
  // cached version is usually the latest seen (known_[pid - 1].etag): then it is not stored
  // twice, and ownEtag is null. policyIdLocked(), the only writer of Known::etag, gives the
  // entry its own copy before the latest seen version changes (see cachedEtagLocked()).
  struct Entry {
    Entry() = default;
    Entry(BlockId blockId, uint32_t len, std::unique_ptr<std::string> etag,
          std::span<const uint64_t> checksums);
    BlockId id = 0;
    uint32_t length = 0;
    std::unique_ptr<std::string> ownEtag;  // the cached version if not known_[pid - 1].etag
    // The xxh3 of each kChecksumChunk of the block (chunkCount(length) of them): a block of
    // one chunk (every small file) holds its sum inline, a larger one all of them on the heap.
    uint64_t sum0 = 0;
    std::unique_ptr<uint64_t[]> sums;
    std::span<const uint64_t> checksums() const {
      return {sums ? sums.get() : &sum0, chunkCount(length)};
    }
    uint64_t allocated() const { return BlockStore::allocatedBytes(length); }
  };
  using Entries = std::unordered_map<PolicyId, Entry>;
  // A whole block fetched from the origin, shared by the leader and the waiters.
  struct Fetched {
    std::unique_ptr<std::byte[]> bytes;
    size_t size = 0;
  };
  using FetchResult = Result<std::shared_ptr<const Fetched>>;
  struct Flight {
    std::promise<FetchResult> promise;
    std::shared_future<FetchResult> result = promise.get_future().share();
    bool prefetch = false;  // led by a prefetcher
  };
  // Removes a flight from flights_ when its leader is done (or earlier: now()), unless another
  // flight has taken its key meanwhile.
  struct FlightRegistration {
    BlockCacheImpl* self;
    const std::string& key;
    std::shared_ptr<Flight> flight;
    void now() {
      if (!flight) return;
      std::lock_guard<std::mutex> g(self->mu_);
      auto it = self->flights_.find(key);
      if (it != self->flights_.end() && it->second == flight) self->flights_.erase(it);
      flight.reset();
    }
    ~FlightRegistration() { now(); }
  };
  // One block's share of a read() call.
  struct BlockRead {
    const FileRef* file;
    uint64_t blockNo;
    std::string key;     // blockKey(file->key, blockNo)
    uint32_t length;     // bytes in the block
    uint64_t inOffset;   // where the read starts inside the block
    std::span<std::byte> out;
  };
  enum class HitOutcome { kServed, kAbsent, kDropped };
  // Block files to unlink once mu_ is released, with their allocated bytes (still counted in
  // unlinking_ until the files are gone, so that the disk never holds more than the limit).
  using Doomed = std::vector<std::pair<BlockId, uint64_t>>;
  // Whether a fill of `len` bytes could be admitted now, and how much it must evict first.
  struct AdmitPlan {
    bool possible = false;
    uint64_t toFree = 0;
  };

  // A block ever seen (read or planned), by policy id.
  struct Known {
    const std::string* key = nullptr;  // blockKey(file key, block number): the key in pids_
    std::string etag;                  // the latest version seen; written by policyIdLocked only
    uint32_t length = 0;               // bytes in the block
    bool prefetchedUnread = false;     // prefetched and not read since
    bool prefetchFailed = false;       // the origin refused this version: do not prefetch it
    uint64_t lastReadSeq = 0;          // readSeq_ at its last read, 0 = none
    uint32_t lastInOffset = 0;         // where in the block its last read started
  };
  // Counters of the current epoch plus the history.
  struct EpochLog {
    std::deque<EpochStats> epochs;  // at most kEpochHistory, the last one current
  };

  Status readBlock(const BlockRead& br);
  // Block `blockNo` (of `length` bytes) of version `etag` of `fileKey`, whole, from the origin
  // (counted in origin bytes); kStale if the origin has fewer bytes.
  Result<std::shared_ptr<Fetched>> fetchBlock(const std::string& fileKey, const std::string& etag,
                                              uint64_t blockNo, uint32_t length);
  HitOutcome tryHit(const BlockRead& br, PolicyId pid);
  // A miss; sets `cachedMeanwhile` (and does nothing) if the block is cached by the time it
  // looks and `mayRetry`.
  Status readMiss(const BlockRead& br, PolicyId pid, bool mayRetry, bool& cachedMeanwhile);
  // Offers a fetched block to the policy and writes it. `prefetch`: fetched ahead (the policy
  // gets shouldAdmitPrefetch/onPrefetched). Returns whether it was cached.
  bool fill(const BlockRead& br, const Fetched& block, PolicyId pid, bool prefetch);
  // Room for a block of `len` bytes: asks the policy, evicts its victims (queued on
  // `unlinkLater`) and reserves the space under a new block id. A prefetch is admitted before
  // its fetch, so that prefetchers never fetch what they then cannot keep.
  struct Admission {
    bool admitted = false;
    BlockId id = 0;
    uint64_t alloc = 0;
    uint64_t readSeq = 0;  // readSeq_ when a prefetch was admitted (reads after it use it)
  };
  Admission admitLocked(const std::string& etag, uint64_t len, PolicyId pid, bool prefetch,
                        std::optional<uint64_t> avail, Doomed& unlinkLater);
  // Writes and indexes an admitted block; false if that failed (the space is released).
  bool store(const BlockRead& br, const Fetched& block, const Admission& a, PolicyId pid,
             bool prefetch);
  // The outcome of a block write (file and index entry) for the write backoff: `failure` is
  // the error, or ok. Returns the line to log, if any (logged outside mu_): one per episode.
  std::string noteWriteLocked(const BlockRead& br, PolicyId pid, bool prefetch,
                              const Status& failure);

  // --- BlockCachePrefetch.cc ---
  // The policy id of block `key` (registering it), updating the version it was last seen in
  // (and keeping the version its entry caches: see Entry).
  PolicyId policyIdLocked(const std::string& key, const std::string& etag, uint32_t length);
  // The version that entry `e` of block `pid` caches.
  const std::string& cachedEtagLocked(PolicyId pid, const Entry& e) const {
    return e.ownEtag ? *e.ownEtag : known_[pid - 1].etag;
  }
  // A read of block `pid` (hit or miss) for the stats clock and the policy; returns whether
  // the policy should be told (repeats of a block within a few reads are not: see the .cc).
  bool noteReadLocked(PolicyId pid, uint64_t inOffset);
  // Logs plan epochs the policy dropped unread since the last call (once each).
  void notePlanDiscardsLocked();
  // Counts a block read served from the origin (misses_, missBytes_, the epoch's counters).
  void countMiss(uint64_t bytes);
  // Counts `bytes` fetched from the origin.
  void countOrigin(uint64_t bytes);
  EpochStats& epochLocked();
  void prefetchLoop();
  // One prefetch: false when there was nothing to do (the caller then waits).
  bool prefetchOne();
  uint64_t freeBytesLocked(std::optional<uint64_t> avail) const;
  // After a plan or a new epoch: all prefetchers. After a read, which may free one block's
  // room: one, and only if a prefetcher is waiting for room (waking one for nothing costs a
  // lock and a statvfs on every hit).
  void wakePrefetchers() { prefetchCv_.notify_all(); }
  void wakePrefetcher() {
    if (prefetchWantsRoom_.load(std::memory_order_relaxed)) prefetchCv_.notify_one();
  }

  // Removes the block in entries_ at `it` from memory, index and policy, and queues its file
  // for unlinking (outside mu_). Returns its allocated bytes.
  uint64_t dropLocked(Entries::iterator it, Doomed& unlinkLater);
  // Evicts the block of policy id `pid` (a victim) like dropLocked; 0 if it is not cached.
  uint64_t evictLocked(PolicyId pid, Doomed& unlinkLater);
  // Drops block `pid` if it is still cached in block file `id`; whether it was.
  bool dropIfSame(PolicyId pid, BlockId id);
  void unlinkAll(const Doomed& doomed);
  AdmitPlan planLocked(uint64_t alloc, std::optional<uint64_t> avail) const;
  // Free bytes on the cache filesystem, if statvfs answers.
  std::optional<uint64_t> availableBytes() const;

  uint64_t measureMetaBytes() const;
  void maybeRefreshMeta(bool force) const;

  const config::CacheOptions opts_;
  const uint64_t reserve_;
  origin::Origin& origin_;
  CacheDirLock lock_;  // declared first of the owners: released last
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<Index> index_;
  // fs/'s namespace records, in index_; its writes ask for a new measurement of metaBytes_.
  IndexNamespaceStore namespaceStore_{*index_, [this](bool force) { maybeRefreshMeta(force); }};

  mutable std::mutex mu_;  // guards all below up to the counters, policy_, and index_ writes
  std::unique_ptr<policy::Policy> policy_;
  Entries entries_;                       // policy id -> entry, for the cached blocks
  std::map<BlockId, PolicyId> pidsById_;  // block file id -> policy id (ordered: oldest first)
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // key + etag -> fetch
  BlockId nextId_ = 1;
  // Every block ever seen: registered once, never removed (so a policy id stays valid).
  std::unordered_map<std::string, PolicyId> pids_;  // block key -> policy id
  std::vector<Known> known_;                        // policy id - 1 -> block
  policy::EpochAware clock_{{.prefetchCandidates = false}};  // the epoch clock for stats
  uint64_t readSeq_ = 0;                            // reads reported, for the repeat filter
  uint64_t plansDiscarded_ = 0;                     // policy_->plansDiscarded() as last logged
  EpochLog log_;
  PrefetchStats prefetchStats_;  // also counts discovered files and blocks
  uint64_t allocated_ = 0;
  uint64_t reserved_ = 0;
  uint64_t unlinking_ = 0;
  mutable uint64_t metaBytes_ = 0;
  WriteBackoff writeBackoff_{kWriteBackoffFirst, kWriteBackoffMax};

  mutable std::atomic<bool> refreshing_{false};
  mutable std::atomic<int64_t> lastRefreshNs_{0};
  mutable std::atomic<uint64_t> insertsSinceRefresh_{0};

  std::atomic<uint64_t> hits_{0}, misses_{0}, hitBytes_{0}, missBytes_{0};
  std::atomic<uint64_t> checksumFailures_{0}, evictions_{0}, staleDrops_{0}, notAdmitted_{0};
  std::atomic<uint64_t> lostBlocks_{0};
  std::atomic<uint64_t> singleFlightWaits_{0}, recoveredBlocks_{0}, orphansRemoved_{0};
  std::atomic<uint64_t> originBytes_{0};
  std::atomic<uint64_t> writeFailures_{0};
  std::atomic<uint64_t> indexResets_{0};
  std::atomic<unsigned> demandFetches_{0};  // demand origin fetches in flight
  std::atomic<unsigned> readersWaiting_{0};  // reads waiting on the origin (own fetch or joined)

  // Prefetchers: declared last, so they are stopped (by the destructor) before the rest goes.
  unsigned prefetchThreads_ = 0;
  std::atomic<bool> prefetchWantsRoom_{false};  // the policy named a block there was no room for
  bool stopping_ = false;  // guarded by mu_
  std::condition_variable prefetchCv_;
  std::vector<std::thread> prefetchers_;
};

}  // namespace epochfs::cache
