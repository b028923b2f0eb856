// policy/Policy.h: what to keep in the cache, and what to throw out.
//
// cache/BlockCache owns the blocks and does all I/O; it tells its Policy about every insert,
// hit and removal, and asks it whether to admit a missed block and which block to evict. A
// policy never does I/O, so it is tested with a list of block ids, and policy/sim (later)
// replays traces through the very same classes the daemon runs.
//
// Implementations: Lru ("lru", the baseline every peer ships), FixedSubset ("fixed", fill and
// never evict: CoorDL's answer to epoch-shuffled reads), EpochAware ("epoch": victims are blocks
// already read this epoch, prefetch of unread ones) and Planned ("planned": an exact plan of the
// coming epoch(s); farthest-next-use eviction within the epoch rule, prefetch in plan order).
// docs/policies.md compares them.
//
// Two levels of the interface. The first five calls are all a policy must implement, and every
// policy works with them alone. The calls after them (onMiss, onEpoch, the prefetch calls) have
// defaults that do nothing; policy/sim and the cache's prefetcher (cache/Prefetcher) drive
// them. An id names the same block for as long as the mount lives, cached or not (the cache
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
// for as long as the mount lives, cached or not.
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

  // `id` entered the cache (a filled miss, or a block found on disk at startup).
  virtual void onInsert(BlockId id, uint64_t bytes) = 0;
  // `id` was read from the cache (a hit).
  virtual void onAccess(BlockId id) = 0;
  // A hit on `id` that continues a read already reported (the next part of the block, or a
  // repeat a few reads later): not a new read for counting epochs, but a recent use for a
  // policy ordered by recency. Default: nothing.
  virtual void onTouch(BlockId /*id*/) {}
  // `id` left the cache: evicted as a victim, or dropped (corrupt, stale). Unknown ids are
  // ignored.
  virtual void onErase(BlockId id) = 0;

  // A missed block of `bytes` is about to be fetched. Should it be cached, given that
  // `bytesToFree` bytes must be evicted first to make room (0 when there is room)? When this
  // says yes, the cache then calls pickVictim()/onErase() until the room is there.
  virtual bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) = 0;

  // The block to evict next, or nullopt when the policy will evict nothing. Does not forget
  // the block: the cache calls onErase once it is gone, so two calls in a row return the
  // same block. The cache also calls this when it must free space for
  // reasons of its own (the disk's free space fell below cache.min_free); a policy that
  // answers nullopt then keeps everything and the cache simply stops admitting.
  virtual std::optional<BlockId> pickVictim() = 0;

  // Number of blocks the policy is tracking (the cached ones).
  virtual size_t size() const = 0;

  // --- Optional: reads the cache could not serve, epochs, prefetch. Defaults do nothing. ---

  // A reader asked for `id` and it is not cached (called before shouldAdmit for that miss, and
  // also for misses that are then not admitted), so the policy sees every read: hits through
  // onAccess, misses through onMiss.
  virtual void onMiss(BlockId /*id*/) {}
  // `id` exists and has not been read: a file of a directory the reader is reading from
  // (listing-driven prefetch, BlockCache::discover). A policy that prefetches may fetch it
  // ahead of its first read; it is not a read, and a block already known is unchanged.
  virtual void onDiscovered(BlockId /*id*/) {}
  // The reader has started epoch `epoch` (numbered from 1), told explicitly (e.g. a new plan).
  // Policies that detect boundaries themselves need not be told. Smaller or equal numbers
  // than the current epoch are ignored.
  virtual void onEpoch(uint64_t /*epoch*/) {}
  // The cache's epoch clock (the one behind the per-epoch stats, numbered from 1) moved to
  // `epoch`: told by the cache on every boundary it detects, for every policy. A policy with
  // plans expires those the reader did not begin (Planned.h). Default: nothing.
  virtual void onReaderEpoch(uint64_t /*epoch*/) {}

  // The next block worth fetching ahead of the reader, or nullopt for none now. `freeBytes`
  // is the room the cache has without evicting anything. The block is then "in flight" until
  // the prefetcher reports onPrefetched (it is cached) or onPrefetchAbandoned (it is not);
  // it is not named again meanwhile.
  virtual std::optional<BlockId> nextPrefetch(uint64_t /*freeBytes*/) { return std::nullopt; }
  // A prefetched block is about to be stored: as shouldAdmit, for prefetched block `id`.
  virtual bool shouldAdmitPrefetch(BlockId /*id*/, uint64_t bytes, uint64_t bytesToFree) {
    return shouldAdmit(bytes, bytesToFree);
  }
  // The prefetched block `id` entered the cache (it has not been read yet).
  virtual void onPrefetched(BlockId id, uint64_t bytes) { onInsert(id, bytes); }
  // The prefetch of `id` was not admitted (or not started); the policy may name it again.
  virtual void onPrefetchAbandoned(BlockId /*id*/) {}
  // The origin refused the prefetch of `id` (an error, or a newer version): it is left to
  // demand reads, so the policy should move on to other blocks rather than name it again.
  virtual void onPrefetchFailed(BlockId id) { onPrefetchAbandoned(id); }

  // Reads waiting on the origin now (a fetch of their own, or one they joined), told before
  // each nextPrefetch(): about the number of concurrent readers when they miss. A policy that
  // prefetches in the readers' order leaves that many next blocks to them: they are about to
  // fetch those themselves, and a prefetch of one only makes a reader wait for it instead of
  // fetching another block.
  virtual void onReadersWaiting(unsigned /*readers*/) {}

  // A publisher's (`stream`'s) order of its next epoch, block ids in read order (see
  // policy/Planned.h). False when this policy does not use plans (the plan is ignored).
  virtual bool addPlan(const std::vector<BlockId>& /*order*/, uint64_t /*stream*/) {
    return false;
  }

  // Plan epochs dropped unread so far (PolicyInfo::plansDiscarded), cheap enough for every
  // read: the cache logs each discard once.
  virtual uint64_t plansDiscarded() const { return 0; }

  // Counters for stats; cheap (O(1)).
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
