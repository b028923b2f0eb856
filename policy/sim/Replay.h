// policy/sim/Replay.h: synthetic epoch-shuffle traces replayed through the policy classes.
//
// The model is reference/sim.py's (ARCHITECTURE.md): N equal-sized items, E epochs, each a
// fresh uniformly random permutation; a cache of C item slots; an origin that serves B item
// fetches per item the reader consumes. A demand miss stalls the reader while the origin
// fetches it; the origin's idle capacity, B fetches per consumed item, is the prefetch budget,
// banked up to max(1, B) fetches; prefetches land at once. The policy is driven as the cache
// and its prefetcher drive it (Policy.h): onAccess on a hit; onMiss, shouldAdmit, pickVictim,
// onInsert on a miss; then nextPrefetch, shouldAdmitPrefetch, pickVictim, onPrefetched while
// the budget lasts. Items are block ids 0..N-1, one block each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "policy/Policy.h"

namespace epochfs::policy::sim {

// One permutation of 0..n-1 per epoch.
using EpochTrace = std::vector<std::vector<BlockId>>;

// `epochs` uniform random permutations of 0..n-1, from `seed` (std::mt19937_64).
EpochTrace makeEpochTrace(size_t n, size_t epochs, uint64_t seed);

struct ReplayOptions {
  // Cache slots.
  size_t capacity = 0;
  // Origin fetches per consumed item available for prefetch; 0 = no prefetch.
  double bandwidth = 0;
  // Give a Planned policy each epoch's order when that epoch starts (as a training job
  // publishing its plan). Other policies are never told the order.
  bool plan = false;
  // With `plan`: how many epochs ahead each plan is published. 0: at the start of its epoch
  // (a sampler publishing the order it is about to yield); 1: one epoch early, so the cache
  // can keep across the boundary what the next epoch reads first.
  size_t planAhead = 0;
  // Tell the policy each epoch boundary (onEpoch). Off: policies detect boundaries themselves.
  bool announceEpochs = false;
};

struct ReplayResult {
  size_t items = 0;                 // N
  std::vector<uint64_t> hits;       // per epoch
  std::vector<uint64_t> prefetches; // per epoch
  std::vector<uint64_t> notAdmitted;

  // Fraction of reads served from cache in epochs 2..E (epoch 1 is cold); sim.py's metric.
  double steadyHitRatio() const;
  // Origin fetches (misses + prefetches) per read in epochs 2..E; the floor is 1 - c.
  double steadyOriginPerRead() const;
};

// The cache's side of the contract: evicts what `policy` names from `cached` until one more
// block fits in `capacity` slots. False when the policy runs out of victims first.
bool makeRoom(Policy& policy, std::unordered_set<BlockId>& cached, size_t capacity);

// Replays `trace` through `policy`, which must be fresh (tracking nothing).
ReplayResult replay(Policy& policy, const EpochTrace& trace, const ReplayOptions& opts);

}  // namespace epochfs::policy::sim
