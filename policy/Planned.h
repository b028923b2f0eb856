// policy/Planned.h: the exact order of the coming epoch(s) is known ("planned").
//
// A training job publishes its order (the daemon's .epochfs/plan, not built yet; policy/sim
// calls addPlan() directly). With it, prefetch runs ahead of the reader in plan order as far as
// space allows, and the victim is the cached block whose next use is farthest (Belady), but
// for a prefetch only one not needed until a later plan epoch than the block being fetched:
// evicting a block needed later in the same epoch would cost a refetch of it, so origin
// traffic stays at its floor (1 - c) per read. Served from cache: up to min(1, c + B) with an
// origin bandwidth of B items per item read (ARCHITECTURE.md, reference/sim.py "pf_clair").
//
// Progress is observed from reads: a read of block x consumes x's earliest upcoming plan
// position and moves the cursor past it, except a position in a later plan epoch while the
// current one has more than max(16, a tenth of it) reads ahead (a block read twice in an
// epoch must not drag the cursor into the next). Positions up to `reorderWindow` behind the cursor are
// still matched (parallel readers reorder a little); older ones the reader skipped are
// dropped. A demand miss is admitted MIN-style: only by evicting a block whose next use is
// after the missed block's next use. Blocks in no remaining plan are "never used again" and
// go first. Without a plan every block is such a block and nothing is evicted: "fixed".
//
// Plans are one sequence of plan epochs. Each publisher (a "stream": a rank, a job) adds its
// epochs in order; a publisher's plan for an epoch that another publisher has planned already
// is merged into it, interleaved in proportion, so several ranks reading disjoint shards at the
// same pace look like one reader: a stream's first plan joins the newest plan epoch unless the
// reader is past half of it, and its k-th plan after that joins the epoch after its previous
// one when that is the newest, else starts a new one. Merging rewrites only positions after
// the cursor. Memory: the plan epochs
// not yet consumed (16 bytes per planned read: the block and the position of its next read;
// an epoch is dropped once the reader is past it by more than the reorder window) plus one
// map entry (~40 bytes) per planned block.
//
// Expiry: plans for epochs that will not come are dropped. Each plan epoch remembers the
// reader's epoch (onReaderEpoch: the cache's epoch clock) when it was published. A plan epoch
// is *begun* once a read has consumed one of its positions. Two rules drop plan epochs not
// begun, with all their positions: they stop being prefetch candidates and stop protecting
// cached blocks from eviction (counted in plansDiscarded()):
//   - too old: once the reader is in epoch publish + 2 (and has made kExpiryReads reads in it,
//     so that its first reads can begin a plan published for it: the clock sees the read that
//     starts an epoch before the plan does), a plan epoch published in `publish` and not begun
//     is dropped;
//   - not followed: a plan epoch is begun only by a read within `reorderWindow` of its first
//     position (a reader following it starts at its start). A read deeper into the next plan
//     epoch (every earlier one read through) is a "stray": after `strayReads` of them before
//     any read begins it, the reader is reading these blocks in another order (a new job
//     without plans after one that planned ahead) and the plan epoch is dropped.
//
// Not thread-safe (see Policy.h).
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "policy/Policy.h"

namespace epochfs::policy {

struct PlannedOptions {
  // Plan positions this far behind the cursor still match a read. A DataLoader hands each
  // worker a batch and keeps several batches per worker in flight, so reads arrive up to
  // workers x prefetch_factor x batch_size places out of order. Default: 1024.
  uint64_t reorderWindow = 1024;
  // Prefetch only blocks needed within this many reads of the cursor; 0 = no limit. A
  // DataLoader-queue-deep window captures little (ARCHITECTURE.md). Default: 0.
  uint64_t lookahead = 0;
  // Stray reads (see Expiry above) after which the next plan epoch, not begun, is dropped. A
  // following reader's first reads land within the reorder window. Default: 64.
  uint64_t strayReads = 64;
};

class Planned final : public Policy {
 public:
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  // Reads into a reader epoch before plans published two epochs earlier expire.
  static constexpr uint64_t kExpiryReads = 16;

  Planned() : Planned(PlannedOptions{}) {}
  explicit Planned(const PlannedOptions& opts) : opts_(opts) {}

  // Adds the order of the next epoch of publisher `stream` (block ids in read order).
  void addPlan(const std::vector<BlockId>& order) { addPlan(order, 0); }
  bool addPlan(const std::vector<BlockId>& order, uint64_t stream) override;
  // Drops every planned read from the cursor on (the rest of the current plan epoch and the
  // epochs after it: counted as discarded if not begun) and continues the current plan epoch
  // with `order`, published by `stream`. With no plan epoch under way: addPlan().
  bool resumePlan(const std::vector<BlockId>& order, uint64_t stream) override;

  std::string_view name() const override { return "planned"; }
  void onInsert(BlockId id, uint64_t bytes) override;
  void onAccess(BlockId id) override;  // a read: progress through the plan
  void onErase(BlockId id) override;
  // The missed block (see onMiss) is admitted when there is room, or when the farthest cached
  // block is needed after it.
  bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) override;
  // The cached block needed farthest ahead, within the limit the last shouldAdmit* set.
  std::optional<BlockId> pickVictim() override;
  size_t size() const override { return cached_.size(); }

  void onMiss(BlockId id) override;
  // The first uncached block in plan order from the cursor, if there is room or a victim
  // needed only in a later plan epoch than it.
  std::optional<BlockId> nextPrefetch(uint64_t freeBytes) override;
  bool shouldAdmitPrefetch(BlockId id, uint64_t bytes, uint64_t bytesToFree) override;
  void onPrefetched(BlockId id, uint64_t bytes) override;
  void onPrefetchAbandoned(BlockId id) override;
  // Not named again until it is cached or a new plan comes: the scan moves on.
  void onPrefetchFailed(BlockId id) override;
  // Prefetch starts this many planned reads after the cursor (see Policy.h). Measured: a cold
  // planned epoch of 8 reader threads otherwise had 8 requests in flight instead of 16, and
  // took 1.6x as long as the same epoch without a plan; and readers faster than the
  // prefetches caught up with them and waited on them (docs/benchmarks.md).
  void onPrefetchLead(uint64_t positions) override { lead_ = positions; }
  void onReaderEpoch(uint64_t epoch) override;
  uint64_t plansDiscarded() const override { return discarded_; }

  // Plan position of the next expected read.
  uint64_t cursor() const { return cursor_; }
  // Total planned reads so far.
  uint64_t planLength() const { return seqBase_ + seq_.size(); }
  // Planned reads still held (consumed plan epochs are dropped).
  size_t retainedPlan() const { return seq_.size(); }
  // The next planned use of `id` at or after the reorder window, or kNever.
  uint64_t nextUse(BlockId id);
  // Plan epochs with reads still ahead of the cursor.
  size_t activeEpochs() const;

  PolicyInfo info() const override;

 private:
  struct Farthest {
    BlockId id;
    uint64_t use;
  };
  void observeRead(BlockId id);
  size_t epochIndex(uint64_t pos) const;  // the plan epoch holding pos (counted from the first)
  uint64_t epochEnd(uint64_t pos) const;  // first position after pos's plan epoch
  std::optional<Farthest> farthest();
  void rebuildHeap();
  void dropConsumedEpochs();
  // Drops the plan epochs not begun that were published two reader epochs ago or earlier.
  void expireOld();
  // Drops retained plan epochs [first, last) (indices into starts_), none of them begun.
  void discardEpochs(size_t first, size_t last);
  void appendEpoch(const std::vector<BlockId>& order);
  // Interleaves `order` into the newest plan epoch from max(cursor, its start) on.
  void mergeIntoLast(const std::vector<BlockId>& order);

  PlannedOptions opts_;
  // The upcoming planned positions of a block: head, then next_[head - seqBase_], ..., tail.
  struct Uses {
    uint64_t head;
    uint64_t tail;
  };
  // Appends a planned read of `id` at position planLength().
  void pushUse(BlockId id);
  // Removes every planned read from position `from` on (none consumed).
  void truncate(uint64_t from);

  std::deque<BlockId> seq_;      // planned reads from position seqBase_ on, in order
  std::deque<uint64_t> next_;    // parallel to seq_: the block's next planned position, or kNever
  uint64_t seqBase_ = 0;
  std::deque<uint64_t> starts_;  // first position of each retained plan epoch
  size_t startsBase_ = 0;        // index of the plan epoch starts_[0] begins
  std::unordered_map<BlockId, Uses> uses_;  // blocks with upcoming positions
  std::unordered_set<BlockId> cached_;
  std::unordered_set<BlockId> inFlight_;
  std::unordered_set<BlockId> failed_;  // prefetches the origin refused
  // (next use, id), farthest first; entries go stale and are checked when they reach the top.
  std::priority_queue<std::pair<uint64_t, BlockId>> heap_;
  uint64_t cursor_ = 0;
  uint64_t lead_ = 0;  // onPrefetchLead
  size_t cursorEpoch_ = 0;
  uint64_t prefetchPos_ = 0;  // plan positions before this are cached or in flight
  std::optional<BlockId> lastMiss_;
  uint64_t victimFloor_ = 0;  // pickVictim names only blocks next used at or after this
  // Per stream: the absolute index of the plan epoch its latest plan went into.
  std::unordered_map<uint64_t, size_t> streamEpoch_;
  // Per retained plan epoch (parallel to starts_): the streams merged into it.
  std::deque<std::vector<uint64_t>> epochStreams_;
  // Per retained plan epoch (parallel to starts_): the reader's epoch when it was published.
  std::deque<uint64_t> publishedAt_;
  uint64_t readerEpoch_ = 1;    // onReaderEpoch
  uint64_t readsInEpoch_ = 0;   // reads observed since it last moved
  bool expiryDue_ = false;      // the reader epoch moved: expireOld() after kExpiryReads
  uint64_t strayReads_ = 0;     // stray reads into the next plan epoch (see Expiry)
  uint64_t discarded_ = 0;      // plan epochs dropped unread
};

}  // namespace epochfs::policy
