// policy/Planned.cc
//
// Next uses come from a chain of upcoming plan positions per block, threaded through next_
// (parallel to seq_: 8 bytes per planned read, where a std::deque per block cost ~700 bytes
// per block, its first 512-byte chunk included); the farthest cached block
// from a max-heap with lazy deletion (an entry is valid while its block is cached and its use
// is still the block's next use; a stale one is re-pushed with the current value). The heap
// is rebuilt whenever the reader enters a new plan epoch, which also retires entries of
// positions the reader skipped.
#include "policy/Planned.h"

#include <algorithm>

namespace epochfs::policy {
namespace {

// streamEpoch_ value of a stream whose latest plan epoch was discarded: its next plan starts a
// new epoch.
constexpr size_t kDiscardedEpoch = std::numeric_limits<size_t>::max();

}  // namespace

bool Planned::addPlan(const std::vector<BlockId>& order, uint64_t stream) {
  const bool haveLast = !starts_.empty();
  const size_t last = startsBase_ + starts_.size() - 1;  // absolute index of the newest epoch
  auto in = [&](size_t epoch) {
    const auto& s = epochStreams_[epoch - startsBase_];
    return std::find(s.begin(), s.end(), stream) != s.end();
  };
  bool merge = false;
  if (haveLast && !in(last)) {
    auto prev = streamEpoch_.find(stream);
    if (prev == streamEpoch_.end()) {
      // A new publisher joins the newest epoch unless the reader is past half of it.
      const uint64_t begin = starts_.back();
      const uint64_t end = planLength();
      merge = cursor_ < begin + (end - begin) / 2;
    } else {
      merge = prev->second != kDiscardedEpoch && prev->second + 1 == last;
    }
  }
  if (merge) {
    mergeIntoLast(order);
    epochStreams_.back().push_back(stream);
  } else {
    appendEpoch(order);
    epochStreams_.push_back({stream});
    publishedAt_.push_back(readerEpoch_);
  }
  streamEpoch_[stream] = startsBase_ + starts_.size() - 1;
  failed_.clear();  // a new plan: worth another try (the cache knows which versions failed)
  // Cached blocks that were "never used again" may now be used: their heap entries are stale
  // and are refreshed when they surface.
  return true;
}

bool Planned::resumePlan(const std::vector<BlockId>& order, uint64_t stream) {
  // The plan epoch the last consumed position is in; none begun, or all read: a plain plan.
  if (starts_.empty() || cursor_ == 0 || cursor_ <= starts_.front() || cursor_ >= planLength()) {
    return addPlan(order, stream);
  }
  const uint64_t from = cursor_;
  const size_t current = epochIndex(from - 1) - startsBase_;
  // The epochs after the current one were not begun: dropped unread.
  const size_t later = starts_.size() - 1 - current;
  truncate(from);
  starts_.resize(current + 1);
  epochStreams_.resize(current + 1);
  publishedAt_.resize(current + 1);
  discarded_ += later;
  for (BlockId id : order) pushUse(id);
  const size_t abs = startsBase_ + current;
  for (auto& [s, epoch] : streamEpoch_) {
    if (epoch != kDiscardedEpoch && epoch > abs) epoch = kDiscardedEpoch;
  }
  epochStreams_.back().push_back(stream);
  streamEpoch_[stream] = abs;
  cursorEpoch_ = abs;
  strayReads_ = 0;
  prefetchPos_ = std::min(prefetchPos_, from);
  failed_.clear();
  rebuildHeap();
  return true;
}

void Planned::appendEpoch(const std::vector<BlockId>& order) {
  const uint64_t start = planLength();
  starts_.push_back(start);
  for (BlockId id : order) pushUse(id);
}

void Planned::pushUse(BlockId id) {
  const uint64_t pos = planLength();
  seq_.push_back(id);
  next_.push_back(kNever);
  auto [it, fresh] = uses_.try_emplace(id, Uses{pos, pos});
  if (!fresh) {
    next_[static_cast<size_t>(it->second.tail - seqBase_)] = pos;
    it->second.tail = pos;
  }
}

void Planned::truncate(uint64_t from) {
  // Positions from `from` on are the last ones of each block's chain: cut each chain before.
  for (size_t i = static_cast<size_t>(from - seqBase_); i < seq_.size(); ++i) {
    auto it = uses_.find(seq_[i]);
    if (it == uses_.end()) continue;
    Uses& u = it->second;
    if (u.head >= from) {
      uses_.erase(it);
      continue;
    }
    uint64_t p = u.head;
    while (next_[static_cast<size_t>(p - seqBase_)] < from) {
      p = next_[static_cast<size_t>(p - seqBase_)];
    }
    next_[static_cast<size_t>(p - seqBase_)] = kNever;
    u.tail = p;
  }
  seq_.resize(static_cast<size_t>(from - seqBase_));
  next_.resize(seq_.size());
}

void Planned::mergeIntoLast(const std::vector<BlockId>& order) {
  const uint64_t from = std::max(cursor_, starts_.back());
  std::vector<BlockId> rest(seq_.begin() + static_cast<std::ptrdiff_t>(from - seqBase_),
                            seq_.end());
  truncate(from);  // take those positions back
  // Interleave in proportion: after k outputs, each source has given its share of k.
  const size_t a = rest.size();
  const size_t b = order.size();
  size_t i = 0;
  size_t j = 0;
  while (i < a || j < b) {
    // Take from `rest` while its share is behind: i / a <= j / b.
    bool takeA = j >= b || (i < a && i * b <= j * a);
    pushUse(takeA ? rest[i++] : order[j++]);
  }
  prefetchPos_ = std::min(prefetchPos_, from);
  rebuildHeap();
}

size_t Planned::activeEpochs() const {
  size_t n = 0;
  for (size_t k = 0; k < starts_.size(); ++k) {
    uint64_t end = k + 1 < starts_.size() ? starts_[k + 1] : planLength();
    if (end > cursor_) ++n;
  }
  return n;
}

PolicyInfo Planned::info() const {
  PolicyInfo pi;
  pi.activePlans = activeEpochs();
  pi.plansDiscarded = discarded_;
  pi.planRemaining = planLength() > cursor_ ? planLength() - cursor_ : 0;
  pi.prefetchQueue = planLength() > prefetchPos_ ? planLength() - prefetchPos_ : 0;
  pi.prefetchInFlight = inFlight_.size();
  pi.planActive = pi.planRemaining > 0;
  return pi;
}

uint64_t Planned::nextUse(BlockId id) {
  auto it = uses_.find(id);
  if (it == uses_.end()) return kNever;
  Uses& u = it->second;
  const uint64_t lo = cursor_ > opts_.reorderWindow ? cursor_ - opts_.reorderWindow : 0;
  while (u.head < lo) {  // skipped by the reader
    const uint64_t n = next_[static_cast<size_t>(u.head - seqBase_)];
    if (n == kNever) {
      uses_.erase(it);
      return kNever;
    }
    u.head = n;
  }
  return u.head;
}

size_t Planned::epochIndex(uint64_t pos) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), pos);
  size_t rel = it == starts_.begin() ? 0 : static_cast<size_t>(it - starts_.begin()) - 1;
  return startsBase_ + rel;
}

uint64_t Planned::epochEnd(uint64_t pos) const {
  if (pos == kNever) return kNever;
  size_t next = epochIndex(pos) + 1 - startsBase_;
  return next < starts_.size() ? starts_[next] : planLength();
}

void Planned::onReaderEpoch(uint64_t epoch) {
  if (epoch <= readerEpoch_) return;
  readerEpoch_ = epoch;
  readsInEpoch_ = 0;
  expiryDue_ = true;
}

void Planned::expireOld() {
  // The plan epochs not begun are the last ones, and their publication epochs never decrease.
  size_t first = 0;
  while (first < starts_.size() && starts_[first] < cursor_) ++first;
  size_t last = first;
  while (last < starts_.size() && publishedAt_[last] + 2 <= readerEpoch_) ++last;
  if (last > first) discardEpochs(first, last);
}

void Planned::discardEpochs(size_t first, size_t last) {
  const uint64_t a = starts_[first];
  const uint64_t b = last < starts_.size() ? starts_[last] : planLength();
  const uint64_t n = b - a;
  // Take back every position from `a` on (none is consumed: the reader has not begun them; they
  // are the largest in each block's queue), then put the later epochs' back, moved down by n.
  std::vector<BlockId> later(seq_.begin() + static_cast<std::ptrdiff_t>(b - seqBase_),
                             seq_.end());
  truncate(a);
  for (BlockId id : later) pushUse(id);
  for (size_t k = last; k < starts_.size(); ++k) starts_[k] -= n;
  const auto f = static_cast<std::ptrdiff_t>(first);
  const auto l = static_cast<std::ptrdiff_t>(last);
  starts_.erase(starts_.begin() + f, starts_.begin() + l);
  epochStreams_.erase(epochStreams_.begin() + f, epochStreams_.begin() + l);
  publishedAt_.erase(publishedAt_.begin() + f, publishedAt_.begin() + l);
  const size_t absFirst = startsBase_ + first;
  const size_t removed = last - first;
  for (auto& [stream, epoch] : streamEpoch_) {
    if (epoch == kDiscardedEpoch || epoch < absFirst) continue;
    epoch = epoch >= absFirst + removed ? epoch - removed : kDiscardedEpoch;
  }
  prefetchPos_ = std::min(prefetchPos_, a);
  discarded_ += removed;
  strayReads_ = 0;
  if (!starts_.empty()) cursorEpoch_ = epochIndex(cursor_);
  rebuildHeap();
}

void Planned::observeRead(BlockId id) {
  ++readsInEpoch_;
  if (expiryDue_ && readsInEpoch_ >= kExpiryReads) {
    expiryDue_ = false;
    expireOld();
  }
  uint64_t p = nextUse(id);
  if (p == kNever) return;  // not planned: no progress to learn from
  if (!starts_.empty() && epochIndex(p) > epochIndex(cursor_)) {
    // Its next use is in a later plan epoch while this one still has reads ahead: a second
    // read of a block already read this epoch (kernel read-ahead out of order, a re-read),
    // not the next epoch starting. Only near the end of the epoch (parallel readers finish
    // it out of order) may a read move the cursor into the next one.
    const uint64_t end = epochEnd(cursor_);
    const uint64_t begin = starts_[epochIndex(cursor_) - startsBase_];
    const uint64_t slack = std::max<uint64_t>(16, (end - begin) / 10);
    if (end - cursor_ > slack) return;
  }
  const size_t k = epochIndex(p) - startsBase_;
  const uint64_t start = starts_[k];
  if (cursor_ <= start && p >= start + opts_.reorderWindow) {
    // Deep inside a plan epoch not begun: not the reader starting it. Into the next one (all
    // earlier ones read through), a stray: enough of them and the reader is not following it.
    if (cursor_ == start && ++strayReads_ >= opts_.strayReads) discardEpochs(k, k + 1);
    return;
  }
  auto it = uses_.find(id);  // p is its head
  const uint64_t after = next_[static_cast<size_t>(p - seqBase_)];
  if (after == kNever) {
    uses_.erase(it);
  } else {
    it->second.head = after;
  }
  if (p >= cursor_) {
    cursor_ = p + 1;
    if (!starts_.empty() && epochIndex(cursor_) != cursorEpoch_) {
      cursorEpoch_ = epochIndex(cursor_);
      strayReads_ = 0;
      dropConsumedEpochs();
      rebuildHeap();
    }
  }
  if (cached_.contains(id)) heap_.push({nextUse(id), id});
}

void Planned::dropConsumedEpochs() {
  // An epoch goes once its end is behind the oldest position a read may still match.
  while (starts_.size() >= 2 && starts_[1] + opts_.reorderWindow < cursor_) {
    const uint64_t n = starts_[1] - starts_[0];
    // Chains must not start in what goes: move their heads past it.
    for (size_t i = 0; i < n; ++i) {
      auto it = uses_.find(seq_[i]);
      if (it == uses_.end() || it->second.head != seqBase_ + i) continue;
      if (next_[i] == kNever) {
        uses_.erase(it);
      } else {
        it->second.head = next_[i];
      }
    }
    seq_.erase(seq_.begin(), seq_.begin() + static_cast<std::ptrdiff_t>(n));
    next_.erase(next_.begin(), next_.begin() + static_cast<std::ptrdiff_t>(n));
    seqBase_ += n;
    starts_.pop_front();
    epochStreams_.pop_front();
    publishedAt_.pop_front();
    ++startsBase_;
  }
}

void Planned::rebuildHeap() {
  std::vector<std::pair<uint64_t, BlockId>> entries;
  entries.reserve(cached_.size());
  for (BlockId id : cached_) entries.emplace_back(nextUse(id), id);
  heap_ = std::priority_queue<std::pair<uint64_t, BlockId>>(
      std::less<std::pair<uint64_t, BlockId>>(), std::move(entries));
}

std::optional<Planned::Farthest> Planned::farthest() {
  while (!heap_.empty()) {
    auto [use, id] = heap_.top();
    if (!cached_.contains(id)) {
      heap_.pop();
      continue;
    }
    uint64_t now = nextUse(id);
    if (now != use) {
      heap_.pop();
      heap_.push({now, id});
      continue;
    }
    return Farthest{id, use};
  }
  return std::nullopt;
}

void Planned::onInsert(BlockId id, uint64_t /*bytes*/) {
  inFlight_.erase(id);
  failed_.erase(id);
  victimFloor_ = 0;
  if (!cached_.insert(id).second) return;
  heap_.push({nextUse(id), id});
}

void Planned::onPrefetched(BlockId id, uint64_t bytes) { onInsert(id, bytes); }

void Planned::onPrefetchAbandoned(BlockId id) {
  inFlight_.erase(id);
  prefetchPos_ = std::min(prefetchPos_, nextUse(id));
}

void Planned::onPrefetchFailed(BlockId id) {
  inFlight_.erase(id);
  failed_.insert(id);
}

void Planned::onAccess(BlockId id) {
  if (cached_.contains(id)) observeRead(id);
}

void Planned::onMiss(BlockId id) {
  observeRead(id);
  lastMiss_ = id;
}

void Planned::onErase(BlockId id) {
  if (cached_.erase(id) == 0) return;
  // Needed again before the prefetch scan's position: the scan must come back for it.
  prefetchPos_ = std::min(prefetchPos_, nextUse(id));
}

bool Planned::shouldAdmit(uint64_t /*bytes*/, uint64_t bytesToFree) {
  victimFloor_ = 0;
  if (bytesToFree == 0) return true;
  const uint64_t mine = lastMiss_ ? nextUse(*lastMiss_) : kNever;
  if (mine == kNever) return false;  // nothing is needed later than never
  std::optional<Farthest> f = farthest();
  if (!f || f->use <= mine) return false;
  victimFloor_ = mine + 1;
  return true;
}

bool Planned::shouldAdmitPrefetch(BlockId id, uint64_t /*bytes*/, uint64_t bytesToFree) {
  victimFloor_ = 0;
  if (bytesToFree == 0) return true;
  const uint64_t mine = nextUse(id);
  if (mine == kNever) return false;
  const uint64_t floor = epochEnd(mine);  // the victim must wait for a later plan epoch
  std::optional<Farthest> f = farthest();
  if (!f || f->use < floor || f->use <= mine) return false;
  victimFloor_ = floor;
  return true;
}

std::optional<BlockId> Planned::pickVictim() {
  std::optional<Farthest> f = farthest();
  if (!f || f->use < victimFloor_) return std::nullopt;
  return f->id;
}

std::optional<BlockId> Planned::nextPrefetch(uint64_t freeBytes) {
  prefetchPos_ = std::max(prefetchPos_, cursor_ + lead_);
  prefetchPos_ = std::max(prefetchPos_, seqBase_);
  while (prefetchPos_ < planLength()) {
    BlockId y = seq_[prefetchPos_ - seqBase_];
    // Skip what is cached or coming, and positions the reader consumed out of order.
    if (!cached_.contains(y) && !inFlight_.contains(y) && !failed_.contains(y) &&
        nextUse(y) <= prefetchPos_) {
      break;
    }
    ++prefetchPos_;
  }
  if (prefetchPos_ >= planLength()) return std::nullopt;
  if (opts_.lookahead > 0 && prefetchPos_ >= cursor_ + opts_.lookahead) return std::nullopt;
  const BlockId y = seq_[prefetchPos_ - seqBase_];
  if (freeBytes == 0) {
    std::optional<Farthest> f = farthest();
    // Do no harm: never evict what is needed sooner, or in the same plan epoch.
    if (!f || f->use <= prefetchPos_ || f->use < epochEnd(prefetchPos_)) return std::nullopt;
  }
  inFlight_.insert(y);
  return y;
}

}  // namespace epochfs::policy
