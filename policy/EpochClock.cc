// policy/EpochClock.cc
//
// One stamp per block and no per-block work at a boundary: which epoch a stamp belongs to is
// read off the two range starts (see the header), so a new epoch is O(1) however many blocks
// are known. The stamps hold what an epoch number and a read counter per block would (the
// policy's former Block::lastEpoch and lastSeq) in 8 bytes instead of 16.
#include "policy/EpochClock.h"

#include <algorithm>
#include <cmath>

namespace epochfs::policy {

EpochClock::EpochClock(const EpochClockOptions& opts) : opts_(opts) {}

uint64_t& EpochClock::stamp(BlockId id) {
  const uint64_t page = id >> kPageBits;
  if (page >= pages_.size()) pages_.resize(page + 1);
  std::unique_ptr<uint64_t[]>& p = pages_[page];
  if (!p) p = std::make_unique<uint64_t[]>(uint64_t{1} << kPageBits);  // zeroed: unknown
  return p[id & ((uint64_t{1} << kPageBits) - 1)];
}

uint64_t EpochClock::stampOf(BlockId id) const {
  const uint64_t page = id >> kPageBits;
  if (page >= pages_.size() || !pages_[page]) return 0;
  return pages_[page][id & ((uint64_t{1} << kPageBits) - 1)];
}

uint64_t EpochClock::window() const {
  // At least 1, so an immediate duplicate read never ends an epoch, even of a tiny dataset.
  double slack = (1.0 - opts_.boundaryFraction) * static_cast<double>(known_);
  uint64_t cap = slack > 0 ? static_cast<uint64_t>(std::floor(slack + 1e-9)) : 0;
  return std::min(opts_.reorderWindow, std::max<uint64_t>(1, cap));
}

void EpochClock::addKnown(BlockId id) {
  uint64_t& s = stamp(id);
  if (s != 0) return;
  s = kNeverRead;
  ++known_;
}

void EpochClock::begin(uint64_t epoch) {
  // The new epoch's own stamp, given to its late reads of the previous epoch: after every
  // read of the epoch that ends, before every read of the new one.
  const uint64_t late = ++seq_;
  // After a jump (setEpoch past epoch + 1) nothing was read in the previous epoch: only the
  // late reads are in its range.
  prevStart_ = epoch == epoch_ + 1 ? curStart_ : late;
  curStart_ = late + 1;
  epoch_ = epoch;
  readsThisEpoch_ = 0;
}

bool EpochClock::setEpoch(uint64_t epoch) {
  if (epoch <= epoch_) return false;
  begin(epoch);
  return true;
}

bool EpochClock::onRead(BlockId id) {
  uint64_t& s = stamp(id);
  if (s == 0) {
    s = kNeverRead;
    ++known_;
  }
  const uint64_t w = window();
  // Every read takes a stamp, late and duplicate ones too, so that stamp differences within
  // an epoch count all reads (the window is in reads).
  uint64_t now = ++seq_;
  latestRead_ = id;
  anyRead_ = true;
  bool began = false;
  if (s >= curStart_) {
    // Read twice in one epoch. Either the next epoch has begun, or it is a duplicate read
    // (two workers, a re-read of a header). Only the former, when most of the dataset has
    // been read and the previous read is not a few places ago.
    bool most = static_cast<double>(readsThisEpoch_) >=
                opts_.boundaryFraction * static_cast<double>(known_);
    if (!most || now - s <= w) {
      s = now;
      return false;
    }
    begin(epoch_ + 1);
    now = ++seq_;  // begin() took a stamp: this read is the first of the new epoch
    began = true;
  } else if (epoch_ > 1 && readsThisEpoch_ < w && s < prevStart_) {
    // Just after a boundary, a block that missed the previous epoch is that epoch's late read
    // (a parallel reader still finishing it): it stays unread in this one.
    s = curStart_ - 1;
    return false;
  }
  s = now;
  ++readsThisEpoch_;
  return began;
}

}  // namespace epochfs::policy
