// policy/EpochAware.h: reread-aware eviction and order-unaware prefetch ("epoch").
//
// Every epoch reads each block once, in a fresh random order. A block already read in the
// current epoch will not be read again until the next one, so it is the best victim; a block
// not yet read this epoch certainly will be, so it is never evicted to admit one that was just
// read. Without prefetch this serves the fraction c of reads that the cache holds, like
// "fixed"; with background prefetch of unread blocks into space held by read ones it serves up
// to c (1 + ln(1/c)) (ARCHITECTURE.md, reference/sim.py "epochbp" and "pf_epoch").
//
// The epoch is detected passively by an EpochClock (policy/EpochClock.h; docs/policies.md,
// "The epoch boundary"), told of every read: a read of a block already read in the current
// epoch starts a new epoch when at least `boundaryFraction` of the blocks known so far have
// been read in this epoch and the block's previous read is more than `reorderWindow` reads
// old; just after a boundary a block that was not read in the previous epoch counts as a late
// read of it (so it stays unread in the new one). onEpoch() sets the epoch explicitly.
//
// Victims are the cached blocks read in this epoch, oldest read first (with a shuffled order
// any choice among them is as good). When only unread blocks remain, pickVictim() names none,
// shouldAdmit() refuses a miss that needs room, and the cache keeps what it has, as "fixed"
// does.
//
// Prefetch: nextPrefetch() names a known, uncached block not yet read in this epoch, chosen at
// random, when there is free room or a read-this-epoch block to evict. Known: read at least
// once, or discovered (onDiscovered: listed in a directory being read), which lets the first
// epoch prefetch too. A discovered block does not count among the known blocks of the epoch
// boundary until it is read, and one still unread when its epoch ends was not wanted: it is
// no longer a candidate, and if cached it is the first victim (before read blocks).
//
// Not thread-safe (see Policy.h). Memory per block ever seen: a hash-map node (48 bytes with
// the allocator's header) and its bucket (~12 bytes), and the clock's stamp (8 bytes per id):
// ~68 bytes (76 when the node held the read epoch and counter itself). Besides, a list node (32 bytes) per cached block that is a victim (read
// this epoch, or stale), and a candidate (a vector slot and a hash-map node, ~52 bytes) per
// uncached block unread this epoch. Measured with 10^6 blocks.
#pragma once

#include <cstdint>
#include <list>
#include <random>
#include <unordered_map>
#include <vector>

#include "policy/EpochClock.h"
#include "policy/Policy.h"

namespace epochfs::policy {

struct EpochAwareOptions {
  // A re-read ends the epoch only once this fraction of the known blocks was read in it.
  // Default: 0.9.
  double boundaryFraction = 0.9;
  // Reads of reordering tolerated around a boundary (see above); capped at
  // (1 - boundaryFraction) of the known blocks. Default: 256.
  uint64_t reorderWindow = 256;
  // Seed of the random choice among prefetch candidates. Default: 1.
  uint64_t seed = 1;
};

class EpochAware final : public Policy {
 public:
  EpochAware() : EpochAware(EpochAwareOptions{}) {}
  explicit EpochAware(const EpochAwareOptions& opts);

  std::string_view name() const override { return "epoch"; }
  // A block not read yet in this epoch is counted as read now (a filled miss); the cache
  // also calls this for blocks found on disk at startup, which are thus victims first.
  void onInsert(BlockId id, uint64_t bytes) override;
  void onAccess(BlockId id) override;  // a read; unknown (uncached) ids count as onMiss
  void onErase(BlockId id) override;
  // Yes when there is room, or enough bytes are held by blocks read in this epoch.
  bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) override;
  // The block read longest ago in this epoch; nullopt when every cached block is unread.
  std::optional<BlockId> pickVictim() override;
  size_t size() const override { return cachedCount_; }

  void onMiss(BlockId id) override;
  void onDiscovered(BlockId id) override;
  void onEpoch(uint64_t epoch) override;
  std::optional<BlockId> nextPrefetch(uint64_t freeBytes) override;
  bool shouldAdmitPrefetch(BlockId id, uint64_t bytes, uint64_t bytesToFree) override;
  void onPrefetched(BlockId id, uint64_t bytes) override;
  void onPrefetchAbandoned(BlockId id) override;
  // Not a candidate again before the next epoch (or a read of it).
  void onPrefetchFailed(BlockId id) override;

  PolicyInfo info() const override;

  // The current epoch, from 1.
  uint64_t epoch() const { return clock_.epoch(); }
  // Reads counted in the current epoch (distinct blocks).
  uint64_t readsThisEpoch() const { return clock_.readsThisEpoch(); }
  // Blocks read at least once (or cached): what the epoch boundary counts.
  size_t knownBlocks() const { return clock_.knownBlocks(); }
  // Blocks discovered and never read.
  size_t discoveredBlocks() const { return discoveredOnly_; }
  // Prefetch candidates now (known, uncached, not in flight, unread this epoch).
  size_t pendingBlocks() const { return pending_.size(); }

 private:
  // When it was read is the clock's (clock_.readThisEpoch).
  struct Block {
    uint64_t bytes = 0;  // when cached
    bool cached = false;
    bool inFlight = false;
    bool discovered = false;  // discovered and never read (nor inserted by a fill)
    bool stale = false;       // discovered in an epoch that ended without its read
    // In read_ iff cached && read this epoch; in stale_ iff cached && stale.
    std::list<BlockId>::iterator readPos;
  };
  size_t inFlight_ = 0;

  Block& known(BlockId id);
  void clearInFlight(Block& b);
  void recordRead(BlockId id, Block& b);
  // The clock began a new epoch: every block is unread again.
  void startEpoch();
  bool isRead(BlockId id) const { return clock_.readThisEpoch(id); }
  void addPending(BlockId id);
  void removePending(BlockId id);
  // A discovered block is read or filled: it becomes an ordinary known block.
  void undiscover(Block& b);

  EpochClock clock_;
  std::unordered_map<BlockId, Block> blocks_;
  std::list<BlockId> read_;  // cached blocks read in this epoch, oldest read first
  uint64_t readBytes_ = 0;   // bytes of the blocks in read_
  std::list<BlockId> stale_;  // cached, discovered in an earlier epoch, never read: victims first
  uint64_t staleBytes_ = 0;
  uint64_t discoveredOnly_ = 0;  // blocks with `discovered` set
  size_t cachedCount_ = 0;
  // Uncached, unread-this-epoch, not in flight: a vector for random choice plus positions.
  std::vector<BlockId> pending_;
  std::unordered_map<BlockId, size_t> pendingPos_;
  std::mt19937_64 rng_;
};

}  // namespace epochfs::policy
