// policy/Policy.h: what to keep in the cache, and what to throw out.
//
// cache/BlockCache owns the blocks and does all I/O; it tells its Policy about every insert,
// hit and removal, and asks it whether to admit a missed block and which block to evict. A
// policy never does I/O, so it is tested with a list of block ids, and policy/sim (later)
// replays traces through the very same classes the daemon runs.
//
// Implementations: Lru ("lru", the baseline every peer ships), FixedSubset ("fixed", fill and
// never evict: CoorDL's answer to epoch-shuffled reads). Later: "epoch", "planned".
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

// Stable id of a cached block, assigned by the cache (persistent across restarts).
using BlockId = uint64_t;

class Policy {
 public:
  virtual ~Policy() = default;

  virtual std::string_view name() const = 0;

  // `id` entered the cache (a filled miss, or a block found on disk at startup).
  virtual void onInsert(BlockId id, uint64_t bytes) = 0;
  // `id` was read from the cache (a hit).
  virtual void onAccess(BlockId id) = 0;
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

  // Number of blocks the policy is tracking.
  virtual size_t size() const = 0;
};

// "lru" or "fixed"; anything else is kInvalid naming the policy and the valid names.
Result<std::unique_ptr<Policy>> makePolicy(std::string_view name);

// The names makePolicy() accepts, in the order docs and error messages list them.
std::vector<std::string_view> policyNames();

}  // namespace epochfs::policy
