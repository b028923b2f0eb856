// policy/EpochClock.h: the reader's epoch, detected passively from its reads.
//
// Training reads every block once per epoch, in a fresh random order. The clock is told of
// every read (onRead: a hit or a miss, a repeat of a read already told excepted) and finds
// where one epoch ends and the next begins (docs/policies.md, "The epoch boundary"): a read of
// a block already read in the current epoch starts a new epoch when at least
// `boundaryFraction` of the known blocks have been read in this epoch and the block's previous
// read is more than `window()` reads old. Parallel readers reorder reads by a few places
// around a boundary: the window keeps a duplicate read from ending an epoch early, and during
// the first window() reads of a new epoch a block that was not read in the previous epoch
// counts as a late read of the previous epoch (it stays unread in the new one). setEpoch()
// sets the epoch explicitly (Policy::onEpoch).
//
// Known blocks: those read at least once, and those registered with addKnown() (cached
// without a read). A block the clock was not told of does not count, so a block that is only
// discovered (listed in a directory, Policy::onDiscovered) does not hold an epoch open.
//
// Users: EpochAware ("epoch"), whose victims and prefetch candidates follow this clock, and
// the cache's clock of its per-epoch stats, which runs beside every policy.
//
// Not thread-safe: the owner calls it under its own lock. Every call is O(1) amortised and
// never blocks. Ids are dense (the cache numbers blocks from 1, policy/sim from 0): memory is
// 8 bytes per id up to the largest id seen, in pages of 4096 ids allocated when first used.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "policy/Policy.h"

namespace epochfs::policy {

struct EpochClockOptions {
  // A re-read ends the epoch only once this fraction of the known blocks was read in it.
  // Default: 0.9.
  double boundaryFraction = 0.9;
  // Reads of reordering tolerated around a boundary (see above); capped at
  // (1 - boundaryFraction) of the known blocks. Default: 256.
  uint64_t reorderWindow = 256;
};

class EpochClock {
 public:
  explicit EpochClock(const EpochClockOptions& opts = {});

  // A read of block `id` (a hit or a miss). Returns true when this read began a new epoch;
  // it is then the first read of that epoch.
  bool onRead(BlockId id);
  // The reader has started epoch `epoch` (Policy::onEpoch). Ignored unless it is larger than
  // epoch(); returns whether the epoch moved. Every block is then unread, and during the
  // first window() reads a block not read in the previous epoch (epoch - 1) is a late read.
  bool setEpoch(uint64_t epoch);
  // Counts `id` among the known blocks without a read (a block cached without one, such as
  // a prefetch another policy named). Nothing for a block known already.
  void addKnown(BlockId id);

  // The current epoch, from 1.
  uint64_t epoch() const { return epoch_; }
  // Reads counted in the current epoch (distinct blocks; duplicates and late reads of the
  // previous epoch are not counted).
  uint64_t readsThisEpoch() const { return readsThisEpoch_; }
  // Blocks read at least once, plus those added with addKnown().
  uint64_t knownBlocks() const { return known_; }
  // Whether `id` was read in the current epoch (counted by readsThisEpoch()). A late read of
  // the previous epoch leaves it unread.
  bool readThisEpoch(BlockId id) const { return stampOf(id) >= curStart_; }
  // Whether the latest onRead() was of `id` (whatever it counted as).
  bool isLatestRead(BlockId id) const { return anyRead_ && latestRead_ == id; }
  // The reorder window now: min(reorderWindow, max(1, floor((1 - boundaryFraction) x known
  // blocks))).
  uint64_t window() const;

 private:
  // Per id one stamp: 0 unknown, kNeverRead known and never read, otherwise the stamp of its
  // last read. Stamps count reads, so within an epoch the difference of two stamps is the
  // number of reads between them; each epoch begins by taking one stamp of its own, which
  // marks the late reads of the previous epoch. So, with curStart_ and prevStart_ the first
  // stamps of the current and the previous epoch's reads:
  //   stamp >= curStart_               read in this epoch
  //   prevStart_ <= stamp < curStart_  read in the previous epoch, or a late read of it
  //   stamp < prevStart_               not read in either (or never)
  // and a new epoch moves those ranges instead of touching every block.
  static constexpr uint64_t kNeverRead = 1;
  static constexpr unsigned kPageBits = 12;  // 4096 stamps, 32 KiB

  void begin(uint64_t epoch);
  uint64_t& stamp(BlockId id);
  uint64_t stampOf(BlockId id) const;

  EpochClockOptions opts_;
  std::vector<std::unique_ptr<uint64_t[]>> pages_;  // stamps by id; null: no id of it seen
  uint64_t epoch_ = 1;
  uint64_t readsThisEpoch_ = 0;
  uint64_t known_ = 0;
  uint64_t seq_ = kNeverRead;  // the last stamp taken
  uint64_t curStart_ = kNeverRead + 1;
  uint64_t prevStart_ = kNeverRead + 1;  // epoch 1 has no previous one
  BlockId latestRead_ = 0;
  bool anyRead_ = false;
};

}  // namespace epochfs::policy
