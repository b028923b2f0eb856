// cache/EpochLog.h: the reader's epochs as the cache's stats count them.
//
// One epoch clock for every policy (so that the per-epoch numbers compare across policies),
// fed with each new read (not repeats: BlockRegistry::noteRead), and the counters of the
// current epoch plus the most recent ones before it (kEpochHistory).
//
// Not thread-safe: the cache calls it with its mutex held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "cache/BlockCache.h"
#include "policy/EpochClock.h"

namespace epochfs::cache {

class EpochLog {
 public:
  // Epochs kept.
  static constexpr size_t kEpochHistory = 64;

  // A new read of block `id`; true when it began a new epoch.
  bool onRead(policy::BlockId id) { return clock_.onRead(id); }
  // The current epoch, from 1.
  uint64_t epoch() const { return clock_.epoch(); }
  // The counters of the current epoch.
  EpochStats& current();
  // The epochs kept, oldest first.
  std::vector<EpochStats> history() const { return {epochs_.begin(), epochs_.end()}; }

 private:
  policy::EpochClock clock_;
  std::deque<EpochStats> epochs_;  // at most kEpochHistory, the last one current
};

}  // namespace epochfs::cache
