// cache/BlockCache.h: the read-through SSD cache in front of the origin.
//
// fs/ calls read() for every FUSE read of a dataset file. A file is cut into blocks of
// cache.block_size (a smaller file is one block). A hit is read from its block file on the
// cache dir (BlockStore) and verified against its xxh3 checksums (Checksum.h); a miss is
// fetched from the Origin once however many readers want it (single-flight), written to the
// SSD, indexed in RocksDB (Index) and then served. The Policy decides admission and victims.
//
// On disk (all under cache.dir):
//   LOCK          flock()ed by the one process using the dir; holds its pid
//   index/        RocksDB: block key -> {block id, length, etag, checksums}
//   blocks/       one file per block
//   tmp/          blocks being written; emptied at open
//   index.corrupt-<UTC time>/  the last index found damaged, set aside (IndexReset.h)
// The dir and its subdirs are 0700, the files epochfs writes 0600, whatever the umask.
// Crash safety: a block is indexed only after its file is completely written and renamed into
// place; at open the index is the truth: entries whose file is missing or has the wrong length
// are dropped, and files no entry points to are deleted.
//
// A block whose write fails for any reason (no free inodes, EPERM, a vanished dir, an index
// error) is served and not cached, is not prefetched again in this epoch, and pauses all
// prefetch for a while (WriteBackoff.h), so that a broken cache dir never turns the
// prefetchers into an endless download.
//
// Size: the bytes the cache dir occupies on disk (allocated block sizes plus the index) never
// exceed cache.size, and no block is written when that would leave less than cache.min_free
// free on the cache filesystem. A block that cannot be admitted is served from the origin
// without being cached. Blocks count at their allocated size (rounded up to 4 KiB); the index
// and directories are measured at most ~1 s apart, and a reserve of 1% of cache.size (at least
// 1 MiB, at most 64 MiB) is kept free for what they may grow by between measurements.
//
// Thread-safe; read() blocks on SSD and origin I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cache/Executor.h"
#include "cache/NamespaceStore.h"
#include "cache/Stalls.h"
#include "common/Status.h"
#include "config/Options.h"
#include "origin/Origin.h"
#include "policy/Policy.h"

namespace epochfs::cache {

// One version of one origin file, as fs/ saw it at open().
struct FileRef {
  std::string key;   // origin key
  std::string etag;  // origin etag at open
  uint64_t size = 0;
};

// What happened in one epoch of the reader (see BlockCache::stats()). Epochs are detected
// passively from reads (docs/policies.md, "The epoch boundary") by one clock for every policy,
// so the numbers compare across policies.
struct EpochStats {
  uint64_t epoch = 0;           // from 1
  uint64_t reads = 0;           // block reads (as CacheStats::hits + misses)
  uint64_t hits = 0;            // of them served from the SSD
  uint64_t hitBytes = 0;
  uint64_t missBytes = 0;
  uint64_t originBytes = 0;     // fetched from the origin: demand and prefetch
  uint64_t prefetched = 0;      // blocks the prefetcher cached
  uint64_t prefetchUnused = 0;  // prefetched blocks that left the cache before any read
  StallStats stalls;            // the reads of this epoch that waited, and how long
};

// The prefetcher and the plans it follows.
struct PrefetchStats {
  unsigned threads = 0;         // 0: prefetch is off
  uint64_t prefetched = 0;      // blocks fetched ahead and cached
  uint64_t prefetchedBytes = 0;
  uint64_t unused = 0;          // prefetched blocks that left the cache unread
  uint64_t declined = 0;        // named by the policy but no room made for them (not fetched)
  uint64_t failed = 0;          // origin errors (the block is left to demand reads)
  bool paused = false;          // now paused because block writes fail (WriteBackoff.h)
  uint64_t pauses = 0;          // such pauses begun (a new episode, or a longer pause)
  uint64_t plans = 0;           // plans published
  uint64_t plannedFiles = 0;    // files named by plans (known ones)
  uint64_t plannedBlocks = 0;
  uint64_t discoveredFiles = 0;   // files announced by listings (BlockCache::discover)
  uint64_t discoveredBlocks = 0;  // their blocks that were new to the cache
};

// Files handed to the kernel whole (BlockCache::openWhole, FUSE passthrough in fs/).
struct WholeFileStats {
  uint64_t opens = 0;           // files handed out (each verified in full first, or earlier)
  uint64_t bytes = 0;           // the sizes of those verified in full at their hand-out
  uint64_t trusted = 0;         // hand-outs not verified again: verified at an earlier one in
                                // this mount (CacheOptions::verifyHandOutsOnce)
  uint64_t tooLarge = 0;        // declined: empty, or its blocks not all in one cache file
  uint64_t notCached = 0;       // declined: not cached in the version asked for
  uint64_t corrupt = 0;         // declined: the cache file failed verification (dropped)
  uint64_t held = 0;            // handed out and not released now
  uint64_t heldEvictedBytes = 0;  // allocated bytes of held files evicted meanwhile: unlinked,
                                  // still on disk until released, counted against cache.size
};

struct CacheStats {
  // A "block read" is one block's share of one read() call. hits + misses counts them all.
  uint64_t hits = 0;              // block reads served from the SSD
  uint64_t misses = 0;            // block reads that went to the origin (waiters included)
  uint64_t hitBytes = 0;          // bytes returned to readers from cached blocks
  uint64_t missBytes = 0;         // bytes returned to readers from origin fetches
  uint64_t usedBytes = 0;         // disk space used now: allocated block bytes (cached, and
                                  // evicted but held: whole.heldEvictedBytes) + index,
                                  // directories and LOCK as measured by this call
  uint64_t limitBytes = 0;        // cache.size
  uint64_t blockSizeBytes = 0;    // cache.block_size
  uint64_t blocks = 0;            // blocks cached now
  uint64_t checksumFailures = 0;  // blocks dropped because their bytes did not verify
  uint64_t lostBlocks = 0;        // blocks dropped because their file was gone or short
  uint64_t evictions = 0;         // blocks evicted to make room
  uint64_t staleDrops = 0;        // blocks dropped because the origin file changed (once a
                                  // fetch with the newer etag succeeded)
  uint64_t notAdmitted = 0;       // misses not cached (policy declined, no space, write error)
  uint64_t singleFlightWaits = 0; // block reads that waited on another reader's fetch
  uint64_t recoveredBlocks = 0;   // blocks found valid in the index at open
  uint64_t orphansRemoved = 0;    // files/entries dropped by recovery at open: tmp files,
                                  // entries without a valid file, files without an entry,
                                  // block ranges of object files without an entry (punched)
  uint64_t originBytes = 0;       // bytes fetched from the origin (demand and prefetch)
  uint64_t indexResets = 0;       // 0 or 1: the index was found damaged at open and set aside
                                  // (IndexReset.h); the cache started empty
  uint64_t randomFiles = 0;       // large files found read at random, cut at a smaller grain
                                  // (cache/FileGrains.h)
  uint64_t writeFailures = 0;     // fetched blocks that could not be written (block file or
                                  // index entry): served, not cached
  PrefetchStats prefetch;
  WholeFileStats whole;
  policy::PolicyInfo policy;      // the policy's own view (epoch, plans, prefetch queue)
  uint64_t epoch = 0;             // the reader's current epoch (the stats clock)
  StallStats stalls;              // every block read that waited since the cache opened
  std::vector<EpochStats> epochs; // the most recent epochs (at most 64), oldest first
};

class BlockCache {
 public:
  // Opens (creating if needed) the cache dir. Fails with kBusy if another process holds it
  // ("cache dir /x is in use by another epochfs process (pid 123)"), kInvalid/kIo naming the
  // path otherwise. Runs crash recovery and hands every recovered block to `policy`.
  // `origin` must outlive the cache. The prefetcher runs on `executor` (Executor.h; null: a
  // thread per prefetcher, makeThreadExecutor; a test passes one it steps by hand).
  static Result<std::unique_ptr<BlockCache>> open(const config::CacheOptions& opts,
                                                  origin::Origin& origin,
                                                  std::unique_ptr<policy::Policy> policy,
                                                  std::unique_ptr<Executor> executor = nullptr);
  virtual ~BlockCache() = default;

  // Reads [offset, offset + out.size()) of `file` into `out`; returns bytes read, short only
  // at the end of the file. Never returns bytes that differ from the origin's version `etag`:
  // a cached block of another etag is dropped, a block failing its checksum is dropped and
  // refetched. Errors: the origin's (kStale, kNotFound, kUnavailable, kIo).
  //
  // A cached block of another etag is not served, and is dropped only once a fetch with
  // `file.etag` succeeds: a reader holding an outdated FileRef gets kStale from the origin and
  // does not evict the newer block. An error in any block fails the whole call. Local trouble
  // (a block file that fails its checksum, vanished or cannot be written) never fails a read:
  // the bytes come from the origin instead.
  virtual Result<size_t> read(const FileRef& file, uint64_t offset, std::span<std::byte> out) = 0;

  virtual CacheStats stats() const = 0;

  // Policy name for stats.
  virtual std::string policyName() const = 0;

  // Starts `threads` background prefetchers (0: none), which fetch what the policy names
  // (Policy::nextPrefetch) into free space or space held by its victims. A prefetch is a
  // lower priority than demand reads: where the origin limits requests in flight
  // (Origin::maxConcurrency), none starts unless that limit leaves room for the demand
  // fetches out plus every prefetcher; and a reader that wants a block being prefetched waits
  // for that fetch instead of starting another. Call once; stopped by the destructor.
  virtual void startPrefetch(unsigned threads) = 0;

  // A plan being built (planFiles): the cache's ids of its blocks in order, 8 bytes each.
  struct PlanOrder {
    std::vector<uint64_t> blocks;
    uint64_t files = 0;
    // The rest of the reader's current epoch from a publisher restarted mid-epoch
    // (Policy::resumePlan), not the next epoch's order.
    bool resumes = false;
  };
  // Appends the blocks of `files` (all blocks of each file, in order) to `order`. Call it in
  // slices: a plan of millions of files then never holds them all as FileRefs at once.
  virtual void planFiles(const std::vector<FileRef>& files, PlanOrder& order) = 0;
  // Publishes `order` as the order in which a reader (`stream`: one per publisher) will read
  // in its coming epoch. Returns the number of blocks planned, or 0 when the policy does not
  // use plans.
  virtual uint64_t publishPlan(PlanOrder order, uint64_t stream) = 0;
  // A byte range of a file, for a plan that names records inside a large file.
  struct ByteRange {
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  // Appends the blocks holding `ranges` of `file` (in order; a block the previous range ended
  // in is not repeated; a range past the file's end is cut at it) to `order`. A file larger
  // than two blocks whose grain is not known yet is cut at the grain for records of the
  // ranges' median length (FileGrains::shiftForRecords, cache.random_block_size), as if it had
  // been found read at random; a file with a grain keeps it. Does not count the file in
  // order.files (its ranges may come in several calls: the caller counts it).
  virtual void planRanges(const FileRef& file, std::span<const ByteRange> ranges,
                          PlanOrder& order) = 0;
  // planFiles(files) and publishPlan in one call.
  uint64_t addPlan(const std::vector<FileRef>& files, uint64_t stream) {
    PlanOrder order;
    planFiles(files, order);
    return publishPlan(std::move(order), stream);
  }

  // Listing-driven prefetch: `files` exist and the reader is reading their directory, so the
  // policy may prefetch their blocks before their first read (Policy::onDiscovered). Blocks
  // already known keep their state. Does nothing when prefetch is off (startPrefetch(0)).
  virtual void discover(const std::vector<FileRef>& files) = 0;
  // discover(list()) on a prefetch worker (Prefetcher), so that listing a directory never
  // holds up the caller. Does nothing when prefetch is off. `list` may run until
  // cancelDiscovery() returns: a caller whose `list` uses what it is about to destroy calls
  // that first.
  virtual void discoverLater(std::function<std::vector<FileRef>()> list) = 0;
  // Drops the discoveries not yet run and waits for those running.
  virtual void cancelDiscovery() = 0;

  // A file whose bytes the kernel may read itself, from the cache's own file (FUSE
  // passthrough): `fd` is open read-only on a cache file that holds exactly the file's bytes
  // at the same offsets, and `pin` identifies the hand-out for releaseWhole(). The caller owns
  // and closes `fd`.
  struct WholeFile {
    int fd = -1;
    uint64_t pin = 0;
  };
  enum class WholeMiss { kTooLarge, kNotCached, kCorrupt };
  // Hands out version `file` whole if every block of it is cached, in version file.etag, in
  // one cache file (a file of one block in its block file; a larger one in its version's
  // object file, BlockStore.h; else kTooLarge, as for an empty file) and its bytes verify
  // against their checksums now, read in full from the SSD; counted as a read of the file
  // (hit counters, epoch clock, policy), as the reads themselves will never reach the cache.
  // The block failing verification is dropped (counted in checksumFailures) so that the next
  // read refetches it: kCorrupt. A cache file found missing, of the wrong size or unreadable is
  // dropped too (its blocks counted in lostBlocks): kNotCached. Until releaseWhole(pin), the cache file's
  // bytes count against cache.size even after it is evicted (evicting unlinks it; the kernel
  // keeps it readable): release it when the kernel no longer holds `fd` (its last backing-file
  // user is gone), not earlier, or the cache undercounts the disk. One file may be handed out
  // several times at once, each with its own pin.
  // Thread-safe; blocks on the SSD read.
  virtual std::variant<WholeFile, WholeMiss> openWhole(const FileRef& file) {
    (void)file;
    return WholeMiss::kTooLarge;  // a cache that hands nothing out (test doubles)
  }
  // Ends hand-out `pin` (the kernel no longer reads that cache file).
  virtual void releaseWhole(uint64_t pin) { (void)pin; }

  // Where fs/ keeps its namespace snapshot (fs/NamespaceSnapshot): in this cache's index, so
  // that it counts against cache.size and lives and dies with the cache (NamespaceStore.h).
  // Valid as long as the cache.
  virtual NamespaceStore& namespaceStore() = 0;
};

}  // namespace epochfs::cache
