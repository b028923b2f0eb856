// policy/Policy.h: what to keep in the cache, and what to throw out.
//
// cache/BlockCache owns the blocks and does all I/O; it tells its Policy about every read (hit
// or miss), insert and removal, and asks it whether to admit a missed block, which block to
// evict and what to prefetch. A policy never does I/O, so it is tested with a list of block
// ids, and policy/sim replays traces through the very same classes the daemon runs.
//
// Implementations: Lru ("lru", the baseline every peer ships), FixedSubset ("fixed", fill and
// never evict: CoorDL's answer to epoch-shuffled reads), EpochAware ("epoch": victims are blocks
// already read this epoch, prefetch of unread ones) and Planned ("planned": an exact plan of the
// coming epoch(s); farthest-next-use eviction within the epoch rule, prefetch in plan order);
// the daemon's "epoch" is EpochWithPlans, the two combined. docs/policies.md compares them.
//
// Two levels of the interface. The pure virtual calls (onInsert, onAccess, onErase,
// shouldAdmit, pickVictim, besides name and size) are all a policy must implement, and every
// policy works with them alone. The others (onTouch, onMiss, onDiscovered, the epoch, prefetch
// and plan calls) have defaults that do nothing or fall back on the first level; the cache's
// read path and its prefetch threads (cache/BlockCachePrefetch.cc) drive them, as policy/sim
// does. An id names the same block for as long as the mount lives, cached or not (the cache
// maps (file, block number) to a stable id).
//
// Not thread-safe: BlockCache calls it under its own mutex. Every call is O(1) amortised and
// never blocks; a policy never calls back into the cache.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Status.h"

namespace epochfs::policy {

// Stable id of a block, assigned by the cache: the same block of the same file keeps its id
// for as long as the mount lives, cached or not, whatever version of the file it holds. Ids
// are dense (the cache numbers blocks from 1 in the order it first sees them, policy/sim from
// 0), so a policy may keep per-block state in arrays indexed by id (EpochClock does).
using BlockId = uint64_t;

// What a policy reports for .epochfs/stats (all zero for policies without these notions).
struct PolicyInfo {
  uint64_t epoch = 0;           // current epoch as the policy sees it (0: no notion of epochs)
  uint64_t activePlans = 0;     // plan epochs published and not yet read through
  uint64_t plansDiscarded = 0;  // plan epochs dropped unread (see Planned.h, "Expiry")
  uint64_t planRemaining = 0;   // planned reads not yet observed
  uint64_t prefetchQueue = 0;   // blocks the policy would prefetch now (candidates)
  uint64_t prefetchInFlight = 0;
  bool planActive = false;      // decisions follow a plan right now
};

class Policy {
 public:
  virtual ~Policy() = default;

  virtual std::string_view name() const = 0;

  // `id` entered the cache: a filled miss (usually after onMiss for the read that fetched it,
  // but not when that read was a repeat, see onTouch), or a block found on disk at startup
  // (with no read at all). A prefetched block comes as onPrefetched instead.
  virtual void onInsert(BlockId id, uint64_t bytes) = 0;
  // A new read of `id` was served from the cache (a hit), told once its bytes were read and
  // verified.
  virtual void onAccess(BlockId id) = 0;
  // A hit on `id` that continues a read already reported (a later part of the block than its
  // last read, or any part within min(16, blocks known / 8) reads of it): not a new read for
  // counting epochs, but a recent use for a policy ordered by recency. Such a repeat that
  // misses is not told at all. Default: nothing.
  virtual void onTouch(BlockId /*id*/) {}
  // `id` left the cache: evicted as a victim, or dropped (corrupt, missing or short on disk,
  // replaced by another version of its file). Also told for a victim the cache does not hold,
  // so that the policy forgets it. Unknown ids are ignored.
  virtual void onErase(BlockId id) = 0;

  // Should a missed block of `bytes` be cached, given that `bytesToFree` bytes must be evicted
  // first to make room (0 when there is room; it includes what keeping cache.min_free free on
  // the disk takes)? Asked twice for a miss: before the fetch (no: the cache reads only the
  // range asked for, and caches nothing), and when the fetched block is about to be stored.
  // When the second says yes, the cache calls pickVictim()/onErase() until the room is there;
  // if the policy names no victim first, the block is not stored. Not asked for a read that
  // joins a fetch in flight, nor when the block could never fit.
  virtual bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) = 0;

  // The block to evict next, or nullopt when the policy will evict nothing. Does not forget
  // the block: the cache calls onErase once it is gone, so two calls in a row return the
  // same block. Called after a yes of shouldAdmit()/shouldAdmitPrefetch(), and without one
  // when the cache opens over more blocks than cache.size allows (lowered since the last
  // run): then, if the policy names none (or one the cache does not hold), the cache evicts
  // its oldest block itself, since cache.size is a hard limit.
  virtual std::optional<BlockId> pickVictim() = 0;

  // Number of blocks the policy is tracking (the cached ones).
  virtual size_t size() const = 0;

  // --- Optional: reads the cache could not serve, epochs, prefetch. Defaults do nothing. ---

  // A new read of `id` that the cache does not hold (or holds only in another version of its
  // file), told under the lock before shouldAdmit for that miss, also when it is then not
  // admitted or joins a fetch in flight (a prefetch of it: onPrefetched follows). So the
  // policy sees every read once: hits through onAccess, misses through onMiss; repeats (see
  // onTouch) are not new reads.
  virtual void onMiss(BlockId /*id*/) {}
  // `id` exists and has not been read: a file of a directory the reader is reading from
  // (listing-driven prefetch, BlockCache::discover). A policy that prefetches may fetch it
  // ahead of its first read; it is not a read. The cache tells only ids it has just assigned
  // (never read, cached, planned or discovered before), and only while prefetch runs.
  virtual void onDiscovered(BlockId /*id*/) {}
  // The reader has started epoch `epoch` (numbered from 1), told explicitly. The cache does
  // not call it (it tells its own clock's epochs through onReaderEpoch); policy/sim does when
  // told to announce epochs (ReplayOptions::announceEpochs). Policies that detect boundaries
  // themselves need not be told. Smaller or equal numbers than the current epoch are ignored.
  virtual void onEpoch(uint64_t /*epoch*/) {}
  // The cache's epoch clock (the one behind the per-epoch stats, numbered from 1: the
  // boundary rule of policy/EpochClock.h over the reads told as onAccess/onMiss) moved to
  // `epoch`: told by the cache on every boundary it detects, for every policy, just before the
  // onAccess/onMiss of the read that began the epoch. A policy with plans expires those the
  // reader did not begin (Planned.h). Default: nothing.
  virtual void onReaderEpoch(uint64_t /*epoch*/) {}

  // The next block worth fetching ahead of the reader, or nullopt for none now (the
  // prefetcher asks again after a read, a plan or an idle wait). `freeBytes` is the room the
  // cache has without evicting anything (0 when less than a block). The block is then "in
  // flight" until the prefetcher reports onPrefetched (it is cached), onPrefetchAbandoned (it
  // is not: cached or being fetched already, or not admitted) or onPrefetchFailed; it is not
  // named again meanwhile.
  virtual std::optional<BlockId> nextPrefetch(uint64_t /*freeBytes*/) { return std::nullopt; }
  // As shouldAdmit, for the block `id` just named by nextPrefetch(), asked once and before it
  // is fetched: on a yes the cache evicts pickVictim() blocks until there is room and reserves
  // it, so that nothing is fetched that cannot be kept; on a no it reports
  // onPrefetchAbandoned.
  virtual bool shouldAdmitPrefetch(BlockId /*id*/, uint64_t bytes, uint64_t bytesToFree) {
    return shouldAdmit(bytes, bytesToFree);
  }
  // The prefetched block `id` entered the cache. Not read yet, unless a reader asked for it
  // while it was in flight (its onMiss came first).
  virtual void onPrefetched(BlockId id, uint64_t bytes) { onInsert(id, bytes); }
  // The prefetch of `id` was not admitted (or not started); the policy may name it again.
  virtual void onPrefetchAbandoned(BlockId /*id*/) {}
  // The prefetch of `id` failed: the origin refused it (an error, or a newer version), an
  // earlier prefetch of this version did, or writing it to the cache failed. It is left to
  // demand reads, so the policy should move on to other blocks rather than name it again.
  virtual void onPrefetchFailed(BlockId id) { onPrefetchAbandoned(id); }

  // Told before each nextPrefetch(): the readers will have read about `positions` more
  // blocks before a prefetch started now is cached (their rate times the prefetches' recent
  // time, with a margin, plus the readers waiting on the origin now: cache/PrefetchLead.h). A
  // policy that prefetches in the readers' order leaves that many next blocks to them: a
  // prefetch of one would only make a reader wait for it instead of fetching another block.
  virtual void onPrefetchLead(uint64_t /*positions*/) {}

  // A publisher's (`stream`'s) order of its next epoch, block ids in read order (see
  // policy/Planned.h). False when this policy does not use plans (the plan is ignored).
  virtual bool addPlan(const std::vector<BlockId>& /*order*/, uint64_t /*stream*/) {
    return false;
  }
  // The rest of the epoch the reader is in, from a publisher restarted mid-epoch (a job
  // resumed from a checkpoint): it replaces every planned read not yet made (the dead job's
  // remainder, and the epochs it planned ahead) and continues the current plan epoch. A policy
  // without that notion takes it as a plan.
  virtual bool resumePlan(const std::vector<BlockId>& order, uint64_t stream) {
    return addPlan(order, stream);
  }

  // Plan epochs dropped unread so far (PolicyInfo::plansDiscarded), cheap enough for every
  // read: the cache logs each discard once.
  virtual uint64_t plansDiscarded() const { return 0; }

  // Counters for stats; cheap (O(1)). The prefetcher also reads prefetchQueue when
  // nextPrefetch() named nothing: candidates waiting for room, which a read may make.
  virtual PolicyInfo info() const { return {}; }
};

// "lru", "fixed", "epoch" (EpochWithPlans: EpochAware, following a plan whenever one is
// published) or "planned" (Planned alone: without a plan it keeps what it has) with default
// options; anything else is kInvalid naming the policy and the valid names.
Result<std::unique_ptr<Policy>> makePolicy(std::string_view name);

// The names makePolicy() accepts (kPolicies, common/PolicyNames.h), in the order docs and
// error messages list them.
std::vector<std::string_view> policyNames();

}  // namespace epochfs::policy
