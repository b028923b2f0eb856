// cache/BlockCacheImpl.h: the BlockCache behind BlockCache::open() (private to cache/).
//
// Orchestration of parts, each with one job and its own tests, all called with mu_ held:
//   BlockRegistry  every block ever seen, under its stable policy id (the policy only ever
//                  sees those), with its latest version, location and the repeat filter
//   CachedBlocks   the blocks in the cache now (the in-memory copy of the index)
//   SingleFlight   one origin fetch per block version, however many readers want it
//   SpaceAccount   the disk space, and the one formula of whether a block fits
//   EpochLog       the epoch clock (policy::EpochClock) and the per-epoch stats it dates
//   Policy         admission, victims, what to prefetch
// and, outside mu_: BlockStore (block files), Index (RocksDB), MetaMeter (measures the
// metadata), Prefetcher (the background workers, on an Executor).
//
// The hit path (BlockCacheRead.cc): register the block, look its entry up, pread its file
// and verify the touched chunks, tell the policy. The miss path: one look under the lock
// (cached by now? a flight to join? would it be admitted?), then join, lead or read only the
// range asked for; the leader fetches the whole block, publishes it to the waiters, serves
// its part and fills (BlockCacheFill.cc: admit, evict the victims, reserve, write, index).
// Prefetch (BlockCachePrefetch.cc) is the miss path run ahead by a worker: the policy names
// a block, it is admitted first, then fetched and filled the same way. Whole-file hand-outs
// (BlockCacheWhole.cc) are the hit path for a file of one block, verified in full, whose
// block file then stays pinned: evicting it unlinks it, and its space is held until the last
// pin goes. Open and crash recovery: BlockCache.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "cache/BlockCache.h"
#include "cache/BlockRegistry.h"
#include "cache/BlockStore.h"
#include "cache/CacheCounters.h"
#include "cache/CacheDirLock.h"
#include "cache/CachedBlocks.h"
#include "cache/EpochLog.h"
#include "cache/Executor.h"
#include "cache/Index.h"
#include "cache/IndexNamespaceStore.h"
#include "cache/FileGrains.h"
#include "cache/Grain.h"
#include "cache/MetaMeter.h"
#include "cache/PrefetchLead.h"
#include "cache/Prefetcher.h"
#include "cache/SingleFlight.h"
#include "cache/SpaceAccount.h"
#include "cache/WriteBackoff.h"

namespace epochfs::cache {

// Sets the damaged index of cache dir `dir` aside (setAsideIndex) and logs it with `cause`.
Status resetIndex(const std::string& dir, const Status& cause);

// BlockCache::open() with the block store that `openStore` makes for the cache dir
// (BlockStore::open, or a test's double: cache/tests/FaultyBlockStore.h).
// `now`: the clock of the write backoff (null: WriteBackoff::Clock::now; a test's runs only
// when it says so).
using StoreOpener = std::function<Result<std::unique_ptr<BlockStore>>(const std::string& dir)>;
using SteadyNow = std::function<WriteBackoff::Clock::time_point()>;
Result<std::unique_ptr<BlockCache>> openBlockCache(const config::CacheOptions& opts,
                                                   origin::Origin& origin,
                                                   std::unique_ptr<policy::Policy> policy,
                                                   const StoreOpener& openStore,
                                                   std::unique_ptr<Executor> executor = nullptr,
                                                   SteadyNow now = nullptr);

// How long prefetch pauses after a block write failed (WriteBackoff): 1 s, doubling while
// the writes keep failing, up to 1 min.
inline constexpr std::chrono::seconds kWriteBackoffFirst{1};
inline constexpr std::chrono::seconds kWriteBackoffMax{60};

class BlockCacheImpl final : public BlockCache, private Prefetcher::Target {
 public:
  BlockCacheImpl(const config::CacheOptions& opts, origin::Origin& origin,
                 std::unique_ptr<policy::Policy> policy, CacheDirLock lock,
                 std::unique_ptr<BlockStore> store, std::unique_ptr<Index> index,
                 std::unique_ptr<Executor> executor, SteadyNow now);
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
  void planRanges(const FileRef& file, std::span<const ByteRange> ranges,
                  PlanOrder& order) override;
  uint64_t publishPlan(PlanOrder order, uint64_t stream) override;
  void discover(const std::vector<FileRef>& files) override;
  void discoverLater(std::function<std::vector<FileRef>()> list) override;
  void cancelDiscovery() override;
  NamespaceStore& namespaceStore() override { return namespaceStore_; }
  std::variant<WholeFile, WholeMiss> openWhole(const FileRef& file) override;
  void releaseWhole(uint64_t pin) override;

 private:
  using Entry = CachedBlocks::Entry;
  using Flight = SingleFlight::Flight;
  // Retires a flight when its leader is done (or earlier: now()).
  struct FlightRegistration {
    BlockCacheImpl* self;
    const std::string& key;
    std::shared_ptr<Flight> flight;
    void now() {
      if (!flight) return;
      std::lock_guard<std::mutex> g(self->mu_);
      self->flights_.retire(key, flight);
      flight.reset();
    }
    ~FlightRegistration() { now(); }
  };
  // One block's share of a read() call (or a prefetch: file key and etag, no output).
  struct BlockRead {
    std::string_view fileKey;
    const std::string& etag;
    uint64_t blockNo;
    const std::string& key;  // blockKey(fileKey, blockNo)
    uint32_t length;         // bytes in the block
    uint64_t inOffset;       // where the read starts inside the block
    std::span<std::byte> out;
    bool counts = true;      // a read for the epoch clock and the policy; while FileGrains
                             // learns how the file is read, or once it found it read in order,
                             // only the read reaching the block's end (a random reader's reads
                             // at other offsets of one block, or a stream's requests reordered,
                             // would look like the next epoch's reads)
    // Of a file read in order or being learned (FileGrains), whose block is read when the
    // read reaching its end is, and is no victim while a stream is still in it.
    bool countsAtEnd = false;
    bool followed = false;   // of a file FileGrains follows (larger than a few blocks)
    // Where the read starts for the repeat filter (BlockRegistry::noteRead): a read counted
    // at the block's end is the block's whole read, as if from its start.
    uint64_t noteOffset() const { return countsAtEnd && counts ? 0 : inOffset; }
    bool unread = false;     // a fill of bytes no read asked for yet (a block cut into
                             // grains: BlockCacheRegrain.cc): cached as a prefetch is, unread
  };
  enum class HitOutcome { kServed, kAbsent, kDropped };
  // A hit as looked up under the lock: the block file and the sums of the chunks to verify.
  struct HitPlan;
  // A file to unlink, or a block's range to punch out of an object file, once mu_ is
  // released, with its allocated bytes (counted as unlinking until it is gone, so that the
  // disk never holds more than the limit).
  struct Doom {
    BlockFileId id{};
    uint64_t alloc = 0;
    uint64_t punchLength = 0;  // 0: unlink the file; else punch [punchAt, + punchLength)
    uint64_t punchAt = 0;
    uint64_t blockNo = 0;      // of a punch: the block whose range it is (punching_)
  };
  using Doomed = std::vector<Doom>;
  // Room for a block: the file it goes to, where, and the space reserved for it.
  struct Admission {
    bool admitted = false;
    BlockFileId id{};
    bool object = false;   // into object file `id` at `offset`; else a new block file `id`
    uint64_t offset = 0;
    uint64_t alloc = 0;
    uint64_t readSeq = 0;  // the registry's readSeq() when a prefetch was admitted
  };
  // What the miss path decided under the lock.
  struct MissPlan {
    bool cachedMeanwhile = false;
    bool regrained = false;  // the file was found random since the read chose its blocks
    bool leader = false;
    std::shared_ptr<Flight> flight;  // null: read the range only, uncached
    bool fetched = false;            // a flight to join whose block was fetched already
    std::optional<uint64_t> flightOffset;  // of a flight of another block (joinFlight)
  };
  // A prefetch claimed under the lock: the block, its flight and its room.
  struct Claim {
    PolicyId pid = 0;
    std::string key;  // blockKey(file key, blockNo)
    size_t fileKeyLength = 0;
    std::string etag;
    uint64_t blockNo = 0;
    uint32_t length = 0;
    std::string flightKey;
    std::shared_ptr<Flight> flight;
    Admission admission;
    WriteBackoff::Clock::time_point claimedAt{};  // for PrefetchLead
    std::string_view fileKey() const { return std::string_view(key).substr(0, fileKeyLength); }
  };

  // --- BlockCache.cc: recovery ---
  struct Loaded {
    std::vector<std::pair<std::string, IndexEntry>> entries;
    std::vector<std::string> badKeys;  // to erase: entries that did not decode or check out
  };
  // Reads the index (setting it aside and starting empty if the scan finds it damaged).
  Status loadIndexLocked(bool indexWasReset, Loaded& loaded);
  // Makes the loaded entries whose block file checks out cached blocks (the others go to
  // loaded.badKeys; `used` gets their files); returns the largest block file id seen.
  uint64_t adoptLocked(Loaded& loaded, const std::vector<BlockStore::FileInfo>& files,
                       std::unordered_set<BlockFileId>& used);
  // Punches the ranges of the adopted object files that no entry names (objectSlots_);
  // returns how many.
  uint64_t punchUnindexedLocked();
  // Evicts down to cache.size; returns the blocks evicted.
  uint64_t evictOverLimitLocked(Doomed& unlinkLater);

  // --- BlockCacheRead.cc: the hit and miss paths ---
  // The policy id of block `blockNo` of `fileKey` (index key `key`), registering it, with
  // `etag` as the version last seen (an entry caching another keeps its own copy).
  PolicyId registerLocked(const std::string& key, std::string_view fileKey, uint64_t blockNo,
                          const std::string& etag, uint32_t length);
  // A read of block `pid` (hit or miss) for the epoch clock and the policy; returns whether
  // the policy should be told (not for repeats: BlockRegistry::noteRead).
  // `counts` false: a read from inside a block of a file FileGrains is learning or found read
  // in order: it only clears the block's prefetchedUnread (the repeat filter does not see it).
  bool noteReadLocked(PolicyId pid, uint64_t inOffset, uint64_t length, bool counts = true);
  // `regrained`: set (and nothing read) when the file was found random meanwhile (the
  // caller reads the rest at its grain).
  Status readBlock(const BlockRead& br, bool& regrained);
  // `pid` 0: registers the block first (in the same hold of the lock as the lookup).
  HitOutcome tryHit(const BlockRead& br, PolicyId& pid);
  // A grain's read served from its block of cache.block_size, still cached while its file is
  // being cut into grains (recutWholeBlocksOf); false if it is not cached (any more).
  bool hitInWholeBlock(const BlockRead& br);
  // Under mu_: the entry of a hit, or why there is none (kAbsent, kDropped).
  HitOutcome lookupHitLocked(const BlockRead& br, PolicyId pid, HitPlan& hit,
                             Doomed& unlinkLater);
  // Reports a served hit to the policy and the counters.
  void noteHit(const BlockRead& br, PolicyId pid, BlockFileId id);
  // noteHit's part under mu_: a hit of `bytes` bytes at `inOffset` of block `pid`, served
  // from block file `id`, for the epoch clock, the policy (if `id` is still its file) and the
  // epoch's stats.
  void noteHitLocked(PolicyId pid, BlockFileId id, uint64_t inOffset, uint64_t bytes,
                     bool counts = true);
  // noteHit's part after mu_: the hit counters, and the prefetcher woken for room.
  void countHit(uint64_t bytes);
  // A miss; sets `cachedMeanwhile` (and does nothing) if the block is cached by the time it
  // looks and `mayRetry`. Adds what it waited for to `stall` (so do the three below).
  Status readMiss(const BlockRead& br, PolicyId pid, bool mayRetry, bool& cachedMeanwhile,
                  bool& regrained, Stall& stall);
  MissPlan planMissLocked(const BlockRead& br, PolicyId pid, const std::string& flightKey,
                          bool mayRetry, std::optional<uint64_t> avail);
  // The block will not be cached: reads only the range asked for.
  Status readUncached(const BlockRead& br, Stall& stall);
  // `missedAt`: when the read found `flight` out and its block not fetched yet (nullopt: it
  // was fetched already, so the read does not wait).
  // `flightOffset`: where the block starts in the flight's bytes when the flight is another
  // block's (a grain's in its big block's); nullopt: the block's own.
  Status joinFlight(const BlockRead& br, const Flight& flight,
                    std::optional<uint64_t> flightOffset,
                    bool mayRetry,
                    bool& cachedMeanwhile, Stall& stall,
                    std::optional<std::chrono::steady_clock::time_point> missedAt);
  Status leadFlight(const BlockRead& br, PolicyId pid, const std::string& flightKey,
                    std::shared_ptr<Flight> flight, Stall& stall);
  // Block `blockNo` (of `length` bytes) of version `etag` of `fileKey`, whole, from the origin
  // (counted in origin bytes); kStale if the origin has fewer bytes.
  Result<std::shared_ptr<FetchedBlock>> fetchBlock(std::string_view fileKey,
                                                   const std::string& etag, uint64_t blockNo,
                                                   uint32_t length);
  // Counts a block read served from the origin.
  void countMiss(uint64_t bytes);
  // Counts a block read that waited (`stall`), in the current epoch and in the totals.
  void recordStall(const Stall& stall);
  // Counts `bytes` fetched from the origin.
  void countOrigin(uint64_t bytes);

  // --- BlockCacheFill.cc: admission, eviction and the write ---
  // Offers a fetched block to the policy and writes it. Returns whether it was cached.
  bool fill(const BlockRead& br, const FetchedBlock& block, PolicyId pid);
  // Room for a block of `len` bytes: asks the policy, evicts its victims (queued on
  // `unlinkLater`) and reserves the space under a new block file id. A prefetch is admitted
  // before its fetch, so that prefetchers never fetch what they then cannot keep.
  Admission admitLocked(const std::string& etag, uint64_t len, PolicyId pid, bool prefetch,
                        std::optional<uint64_t> avail, Doomed& unlinkLater);
  // Evicts the policy's victims until `toFree` bytes are freed (or it names none); returns
  // the bytes freed.
  uint64_t evictForLocked(uint64_t toFree, Doomed& unlinkLater);
  // Writes and indexes an admitted block; false if that failed (the space is released).
  bool store(const BlockRead& br, const FetchedBlock& block, const Admission& a, PolicyId pid,
             bool prefetch);
  // Indexes a written block and makes it an entry; false if the index refused it.
  bool indexLocked(const BlockRead& br, const Admission& a, PolicyId pid, bool prefetch,
                   const std::vector<uint64_t>& sums, Status& st, Doomed& unlinkLater);
  // The outcome of a block write for the write backoff: `failure` is the error, or ok.
  // Returns the line to log, if any (logged outside mu_): one per episode.
  std::string noteWriteLocked(const BlockRead& br, PolicyId pid, bool prefetch,
                              const Status& failure);
  // Removes cached block `pid` from memory, index and policy, and queues its file for
  // unlinking or its range for punching (outside mu_). Returns its allocated bytes.
  uint64_t dropLocked(PolicyId pid, Doomed& unlinkLater);
  // --- object files (BlockStore.h): the blocks of one version of a file in one file ---
  // Whether block `blockNo` of `length` bytes goes to an object file: every block of a file of
  // more than one block, when the filesystem punches holes.
  bool inObject(uint64_t blockNo, uint32_t length) const {
    return store_->punchesHoles() && !(blockNo == 0 && length < blockSize());
  }
  // The key in objectOf_ of version `etag` of `fileKey` cut like block `blockNo` (Grain.h):
  // file key '\0' etag, and for a grain '\0' and its shift, so that the blocks of one
  // version at two grains never share a file.
  static std::string objectVersion(std::string_view fileKey, std::string_view etag,
                                   uint64_t blockNo) {
    std::string v;
    v.reserve(fileKey.size() + 3 + etag.size());
    v.append(fileKey).push_back('\0');
    v.append(etag);
    if (const unsigned shift = grain::shiftOf(blockNo); shift != 0) {
      v.push_back('\0');
      v.push_back(static_cast<char>(shift));
    }
    return v;
  }
  // Where block `blockNo` starts in the origin file.
  uint64_t blockStart(uint64_t blockNo) const { return grain::startOf(blockNo, blockSize()); }
  // The block of cache.block_size that holds grain `blockNo`, and where the grain starts in it.
  struct BigBlock {
    uint64_t no;
    uint64_t offset;
  };
  BigBlock bigBlockOf(uint64_t blockNo) const {
    const uint64_t start = blockStart(blockNo);
    return {start / blockSize(), start % blockSize()};
  }
  // The nominal size of block `blockNo`'s blocks (its grain's, or cache.block_size).
  uint64_t blockBytes(uint64_t blockNo) const { return grain::bytesOf(blockNo, blockSize()); }
  // Where block `blockNo` of an entry starts in its file.
  uint64_t fileOffset(bool object, uint64_t blockNo) const {
    return object ? blockStart(blockNo) : 0;
  }
  // The grain `f` is cut into now (Grain.h; 0: cache.block_size), without a read (grains_
  // has its own lock: mu_ held or not).
  unsigned shiftOfFile(const FileRef& f) const {
    return grains_.follows(f.size) ? grains_.shiftOf(f.key) : 0;
  }
  // --- BlockCacheRegrain.cc ---
  // `f` was found read at random (FileGrains): cuts its cached blocks of cache.block_size,
  // which no read will ask for again, into blocks of its grain, read from the SSD (verified),
  // cached unread.
  // `why`: for the log ("is read at random").
  void recutWholeBlocksOf(const FileRef& f, std::string_view why);
  // recutWholeBlocksOf for block `no` of version `etag` of `fileKey`: whether its grains were
  // offered to the cache.
  bool recutBlock(std::string_view fileKey, const std::string& etag, uint64_t no, unsigned shift);
  // Fills the grains of block `no`, whose bytes are `bytes`, as unread blocks.
  void fillGrains(std::string_view fileKey, const std::string& etag, uint64_t no, unsigned shift,
                  const std::vector<std::byte>& bytes);
  // A block of cache.block_size just filled (a fetch out when its file was found random):
  // cut like the others.
  void recutIfRegrained(std::string_view fileKey, const std::string& etag, uint64_t blockNo);
  // The object file of version `etag` of `fileKey` with one more block in it (made if none
  // exists), or nullopt while a punch of block `blockNo`'s range in it is queued.
  std::optional<BlockFileId> takeObjectLocked(std::string_view fileKey, const std::string& etag,
                                              uint64_t blockNo);
  // Block `blockNo` (of `alloc` bytes) left object file `id`, or its fill did not get there
  // (`written`: its range may be allocated): queues the punch of its range, or the unlink of
  // the file when no block is left in it. A pinned file's range is punched only after the
  // last pin (the kernel reads it); its bytes are held meanwhile.
  void leaveObjectLocked(BlockFileId id, uint64_t blockNo, uint64_t alloc, bool written,
                         PolicyId pid, Doomed& unlinkLater);
  // Evicts block `pid` (a victim) like dropLocked; 0 if it is not cached.
  uint64_t evictLocked(PolicyId pid, Doomed& unlinkLater);
  // Drops block `pid` if it is still cached in block file `id`; whether it was.
  bool dropIfSame(PolicyId pid, BlockFileId id);
  void unlinkAll(const Doomed& doomed);
  // Free bytes on the cache filesystem, if statvfs answers.
  std::optional<uint64_t> availableBytes() const;
  // Measures the metadata if due (MetaMeter) and accounts for it.
  void refreshMeta(bool force) const;

  // --- BlockCachePrefetch.cc: plans, discovery, the prefetch turn ---
  // Logs plan epochs the policy dropped unread since the last call (once each).
  void notePlanDiscardsLocked();
  // Calls fn(key, blockNo, length) for each block of `f`, cut at its grain.
  template <typename Fn>
  void forEachBlock(const FileRef& f, Fn fn) const;
  bool prefetchOne() override;
  // Whether demand fetches leave the origin room for the prefetchers.
  bool demandFull() const;
  // Under mu_: the next block the policy names that can be prefetched now, admitted and
  // with its flight registered; false when there is none.
  bool claimLocked(std::optional<uint64_t> avail, Claim& c, Doomed& unlinkLater);
  void prefetchFailed(Claim& c, const Status& st);

  // --- BlockCacheWhole.cc: files handed out whole (openWhole) ---
  // A file handed out by one or more pins.
  struct Pinned {
    uint32_t pins = 0;
    uint64_t held = 0;  // bytes of its blocks dropped meanwhile: on disk until the last pin
    // Blocks dropped from it meanwhile whose ranges are punched after the last pin, unless
    // cached in it again by then.
    std::set<std::pair<uint64_t, PolicyId>> deferred;  // (blockNo, policy id)
  };
  // One block of a file handed out whole, as looked up under the lock.
  struct WholeBlock {
    PolicyId pid = 0;
    uint64_t at = 0;  // where it starts in the cache file
    uint32_t length = 0;
    std::vector<uint64_t> sums;
  };
  // Verifies every chunk of cache file `fd` (`size` bytes, `blocks`) read in full; kNotCached
  // for a file of another size or a read error (`why` says which), kCorrupt for a mismatch
  // (in blocks[bad]).
  std::optional<WholeMiss> verifyWhole(int fd, uint64_t size, const std::vector<WholeBlock>& blocks,
                                       std::string& why, size_t& bad) const;
  // kNotCached if cache file `fd` is not `size` bytes long (or fstat fails; `why` says which).
  static std::optional<WholeMiss> checkSize(int fd, uint64_t size, std::string& why);
  // Pins file `id`: a new pin id.
  uint64_t pinLocked(BlockFileId id);
  // File `id` was unlinked, freeing `alloc` bytes unless it is pinned: then they are held.
  bool holdIfPinnedLocked(BlockFileId id, uint64_t alloc);

  uint64_t blockSize() const { return opts_.blockSizeBytes; }
  const std::string& cachedEtagLocked(PolicyId pid, const Entry& e) const {
    return e.etag(registry_.at(pid).etag);
  }

  const config::CacheOptions opts_;
  const SteadyNow now_;  // the write backoff's clock
  origin::Origin& origin_;
  CacheDirLock lock_;  // declared first of the owners: released last
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<Index> index_;
  // fs/'s namespace records, in index_; its writes ask for a new measurement (MetaMeter).
  IndexNamespaceStore namespaceStore_{index_, [this](bool force) { refreshMeta(force); }};

  mutable std::mutex mu_;  // guards all below up to the counters, and index_ writes
  std::unique_ptr<policy::Policy> policy_;
  BlockRegistry registry_;
  CachedBlocks cached_;
  SingleFlight flights_;
  mutable SpaceAccount space_;  // mutable: stats() measures the metadata too
  EpochLog epochs_;
  StallStats stalls_;  // since open; each epoch's in epochs_
  PrefetchLead lead_;  // how far ahead of the readers a planned prefetch starts
  FileGrains grains_;  // the files read at random (own lock: read() asks before taking mu_)
  uint64_t nextFileId_ = 1;
  uint64_t plansDiscarded_ = 0;  // policy_->plansDiscarded() as last logged
  WriteBackoff writeBackoff_{kWriteBackoffFirst, kWriteBackoffMax};
  // Object files: the blocks in each (cached, or being filled), and each version's file.
  struct ObjectFile {
    uint64_t blocks = 0;
    std::string version;  // its key in objectOf_
  };
  std::unordered_map<BlockFileId, ObjectFile> objects_;
  std::unordered_map<std::string, BlockFileId> objectOf_;  // file key '\0' etag -> its file
  std::set<std::pair<BlockFileId, uint64_t>> punching_;    // (file, blockNo): punch queued
  std::unordered_map<BlockFileId, std::vector<uint64_t>> objectSlots_;  // recovery's, then empty
  uint64_t nextPin_ = 1;
  std::unordered_map<uint64_t, BlockFileId> pins_;     // openWhole's hand-outs not released
  std::unordered_map<BlockFileId, Pinned> pinned_;     // the block files they pin

  mutable MetaMeter meta_;

  CacheCounters counters_;
  std::atomic<unsigned> demandFetches_{0};   // demand origin fetches in flight
  std::atomic<unsigned> readersWaiting_{0};  // reads waiting on the origin (own fetch or joined)

  // Declared last, so that its workers are stopped (by the destructor) before the rest goes.
  // Its counters are guarded by mu_.
  Prefetcher prefetcher_;
};

}  // namespace epochfs::cache
