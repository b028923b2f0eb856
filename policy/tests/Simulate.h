// policy/tests/Simulate.h: drives a Policy the way cache/BlockCache does, over a trace of
// unit-size blocks and a cache of `capacity` blocks, and records what happened.
//
// A trace entry is the block id itself: a block evicted and fetched again comes back under
// the same id (the real cache hands out a new one; to a policy that is the same thing, as the
// old id was erased first).
#pragma once

#include <cstddef>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "policy/Policy.h"

namespace epochfs::policy {

struct SimResult {
  std::vector<bool> hit;           // per trace entry
  std::vector<BlockId> evictions;  // in order
  size_t notAdmitted = 0;          // misses served without being cached

  size_t hits() const { return hitsIn(0, hit.size()); }
  // Hits among trace entries [begin, end).
  size_t hitsIn(size_t begin, size_t end) const {
    size_t n = 0;
    for (size_t i = begin; i < end && i < hit.size(); ++i) n += hit[i] ? 1 : 0;
    return n;
  }
};

inline SimResult simulate(Policy& policy, const std::vector<BlockId>& trace, size_t capacity) {
  SimResult r;
  std::unordered_set<BlockId> cached;
  for (BlockId id : trace) {
    if (cached.contains(id)) {
      r.hit.push_back(true);
      policy.onAccess(id);
      continue;
    }
    r.hit.push_back(false);
    uint64_t toFree = cached.size() + 1 > capacity ? cached.size() + 1 - capacity : 0;
    if (!policy.shouldAdmit(1, toFree)) {
      ++r.notAdmitted;
      continue;
    }
    while (cached.size() + 1 > capacity) {
      std::optional<BlockId> victim = policy.pickVictim();
      if (!victim) break;
      if (!cached.contains(*victim)) {
        ADD_FAILURE() << "victim " << *victim << " is not in the cache";
        return r;
      }
      cached.erase(*victim);
      policy.onErase(*victim);
      r.evictions.push_back(*victim);
    }
    if (cached.size() + 1 > capacity) {
      ++r.notAdmitted;
      continue;
    }
    cached.insert(id);
    policy.onInsert(id, 1);
    EXPECT_EQ(policy.size(), cached.size());
  }
  return r;
}

// `rounds` repetitions of 1, 2, ..., n.
inline std::vector<BlockId> cyclicTrace(BlockId n, int rounds) {
  std::vector<BlockId> trace;
  for (int r = 0; r < rounds; ++r) {
    for (BlockId id = 1; id <= n; ++id) trace.push_back(id);
  }
  return trace;
}

}  // namespace epochfs::policy
