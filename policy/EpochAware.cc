// policy/EpochAware.cc
//
// When each block was read is the clock's (EpochClock); per block here only what the cache
// holds of it. The cached blocks read in this epoch sit in a list (the victims, oldest read
// first); the uncached blocks not read in this epoch sit in a vector (the prefetch candidates,
// drawn at random). A new epoch empties the list and rebuilds the vector: O(known blocks) once
// an epoch, i.e. O(1) per read amortised.
#include "policy/EpochAware.h"

namespace epochfs::policy {

EpochAware::EpochAware(const EpochAwareOptions& opts)
    : clock_({.boundaryFraction = opts.boundaryFraction, .reorderWindow = opts.reorderWindow}),
      rng_(opts.seed) {}

EpochAware::Block& EpochAware::known(BlockId id) { return blocks_[id]; }

void EpochAware::clearInFlight(Block& b) {
  if (!b.inFlight) return;
  b.inFlight = false;
  --inFlight_;
}

void EpochAware::undiscover(Block& b) {
  if (!b.discovered) return;
  b.discovered = false;
  --discoveredOnly_;
  if (b.stale && b.cached) {
    stale_.erase(b.readPos);
    staleBytes_ -= b.bytes;
  }
  b.stale = false;
}

void EpochAware::recordRead(BlockId id, Block& b) {
  undiscover(b);  // before a boundary this read may begin, which would find it unwanted
  const bool wasRead = isRead(id);
  if (clock_.onRead(id)) {
    startEpoch();  // this read is the new epoch's first
  } else if (wasRead) {
    return;  // a duplicate read
  } else if (!isRead(id)) {
    // A late read of the previous epoch (a parallel reader still finishing it): it stays
    // unread in this one.
    if (!b.cached && !b.inFlight) addPending(id);
    return;
  }
  removePending(id);
  if (b.cached) {
    b.readPos = read_.insert(read_.end(), id);
    readBytes_ += b.bytes;
  }
}

void EpochAware::startEpoch() {
  read_.clear();
  readBytes_ = 0;
  pending_.clear();
  pendingPos_.clear();
  for (auto& [id, b] : blocks_) {
    if (b.discovered) {
      // Listed, but the whole epoch went by without its read: not wanted.
      if (b.cached && !b.stale) {
        b.readPos = stale_.insert(stale_.end(), id);
        staleBytes_ += b.bytes;
      }
      b.stale = true;
      continue;
    }
    if (!b.cached && !b.inFlight) addPending(id);
  }
}

void EpochAware::addPending(BlockId id) {
  if (pendingPos_.contains(id)) return;
  pendingPos_.emplace(id, pending_.size());
  pending_.push_back(id);
}

void EpochAware::removePending(BlockId id) {
  auto it = pendingPos_.find(id);
  if (it == pendingPos_.end()) return;
  size_t i = it->second;
  pendingPos_.erase(it);
  BlockId last = pending_.back();
  pending_.pop_back();
  if (i < pending_.size()) {
    pending_[i] = last;
    pendingPos_[last] = i;
  }
}

void EpochAware::onInsert(BlockId id, uint64_t bytes) {
  Block& b = known(id);
  if (b.cached) return;
  undiscover(b);
  b.cached = true;
  clearInFlight(b);
  b.bytes = bytes;
  ++cachedCount_;
  removePending(id);
  if (isRead(id)) {
    // Read already (onMiss came first): it joins the victims.
    b.readPos = read_.insert(read_.end(), id);
    readBytes_ += bytes;
  } else if (!clock_.isLatestRead(id)) {
    // A filled miss the policy was not told about (onMiss would have been the latest read,
    // possibly a late read of the previous epoch that leaves it unread): the read is now.
    recordRead(id, b);
  }
}

void EpochAware::onPrefetched(BlockId id, uint64_t bytes) {
  auto [it, fresh] = blocks_.try_emplace(id);
  // Not named by this policy (EpochWithPlans: by the plan) and never seen: known from now on,
  // though not read.
  if (fresh) clock_.addKnown(id);
  Block& b = it->second;
  clearInFlight(b);
  if (b.cached) return;
  b.cached = true;
  b.bytes = bytes;
  ++cachedCount_;
  removePending(id);
  if (isRead(id)) {  // the reader got there while it was in flight
    b.readPos = read_.insert(read_.end(), id);
    readBytes_ += bytes;
  } else if (b.stale) {  // discovered, and its epoch ended while it was in flight
    b.readPos = stale_.insert(stale_.end(), id);
    staleBytes_ += bytes;
  }
}

void EpochAware::onPrefetchAbandoned(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Block& b = it->second;
  clearInFlight(b);
  if (!b.cached && !isRead(id) && !b.stale) addPending(id);
}

void EpochAware::onPrefetchFailed(BlockId id) {
  auto it = blocks_.find(id);
  if (it != blocks_.end()) clearInFlight(it->second);
}

void EpochAware::onAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end() || !it->second.cached) return;
  recordRead(id, it->second);
}

void EpochAware::onMiss(BlockId id) {
  Block& b = known(id);
  recordRead(id, b);
}

void EpochAware::onDiscovered(BlockId id) {
  auto [it, inserted] = blocks_.try_emplace(id);
  if (!inserted) return;
  it->second.discovered = true;
  ++discoveredOnly_;
  addPending(id);
}

void EpochAware::onErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end() || !it->second.cached) return;
  Block& b = it->second;
  b.cached = false;
  --cachedCount_;
  if (b.stale) {
    stale_.erase(b.readPos);
    staleBytes_ -= b.bytes;
  } else if (isRead(id)) {
    read_.erase(b.readPos);
    readBytes_ -= b.bytes;
  } else if (!b.inFlight) {
    addPending(id);  // dropped before its read: needed again this epoch
  }
  b.bytes = 0;
}

bool EpochAware::shouldAdmit(uint64_t /*bytes*/, uint64_t bytesToFree) {
  return bytesToFree == 0 || readBytes_ + staleBytes_ >= bytesToFree;
}

bool EpochAware::shouldAdmitPrefetch(BlockId /*id*/, uint64_t bytes, uint64_t bytesToFree) {
  return shouldAdmit(bytes, bytesToFree);
}

std::optional<BlockId> EpochAware::pickVictim() {
  if (!stale_.empty()) return stale_.front();
  if (read_.empty()) return std::nullopt;
  return read_.front();
}

void EpochAware::onEpoch(uint64_t epoch) {
  if (clock_.setEpoch(epoch)) startEpoch();
}

std::optional<BlockId> EpochAware::nextPrefetch(uint64_t freeBytes) {
  if (pending_.empty()) return std::nullopt;
  if (freeBytes == 0 && read_.empty() && stale_.empty()) return std::nullopt;  // no room
  std::uniform_int_distribution<size_t> pick(0, pending_.size() - 1);
  BlockId id = pending_[pick(rng_)];
  removePending(id);
  blocks_[id].inFlight = true;
  ++inFlight_;
  return id;
}

PolicyInfo EpochAware::info() const {
  PolicyInfo pi;
  pi.epoch = clock_.epoch();
  pi.prefetchQueue = pending_.size();
  pi.prefetchInFlight = inFlight_;
  return pi;
}

}  // namespace epochfs::policy
