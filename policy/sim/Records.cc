// policy/sim/Records.cc
#include "policy/sim/Records.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <unordered_set>

#include "cache/Grain.h"
#include "policy/Policy.h"
#include "policy/sim/Experiment.h"
#include "policy/sim/Replay.h"

namespace epochfs::policy::sim {
namespace {

// One cache of `capacity` units of `unit` bytes over the file, driven by the records' reads.
class RecordsReplay {
 public:
  RecordsReplay(const RecordsOptions& o, uint64_t unit, bool grain, size_t capacity)
      : o_(o), unit_(unit), grain_(grain), capacity_(capacity),
        fileBytes_(o.firstOffset + o.records * o.recordBytes),
        units_((fileBytes_ + unit - 1) / unit), head_(units_), tail_(units_) {
    policy_ = std::move(makePolicy("epoch").value());
  }

  // Epochs 2..E: (origin bytes / file bytes summed, unit hits, unit reads).
  void run(uint64_t seed, double& origin, uint64_t& hits, uint64_t& reads) {
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> order(o_.records);
    for (size_t e = 0; e < o_.epochs; ++e) {
      std::iota(order.begin(), order.end(), uint64_t{0});
      std::shuffle(order.begin(), order.end(), rng);
      if (o_.plan) publish(order);
      originBytes_ = 0;
      hits_ = reads_ = 0;
      for (uint64_t r : order) readRecord(r);
      if (e == 0) continue;
      origin += static_cast<double>(originBytes_) / static_cast<double>(fileBytes_);
      hits += hits_;
      reads += reads_;
    }
  }

 private:
  uint64_t start(uint64_t r) const { return o_.firstOffset + r * o_.recordBytes; }
  uint64_t unitLength(uint64_t x) const { return std::min(unit_, fileBytes_ - x * unit_); }

  void publish(const std::vector<uint64_t>& order) {
    std::vector<BlockId> units;
    for (uint64_t r : order) {
      for (uint64_t x = start(r) / unit_; x * unit_ < start(r) + o_.recordBytes; ++x) {
        if (units.empty() || units.back() != x) units.push_back(x);
      }
    }
    policy_->addPlan(units, 1);
  }

  void readRecord(uint64_t r) {
    const uint64_t a = start(r), b = a + o_.recordBytes;
    for (uint64_t x = a / unit_; x * unit_ < b; ++x) {
      const uint64_t us = x * unit_, ue = us + unitLength(x);
      bool counted = true;
      if (grain_) {  // BlockRegistry::noteRead for a grain
        head_[x] = head_[x] || a <= us;
        tail_[x] = tail_[x] || b >= ue;
        counted = head_[x] && tail_[x];
        if (counted) head_[x] = tail_[x] = false;
      }
      ++reads_;
      if (cached_.contains(x)) {
        ++hits_;
        if (counted) policy_->onAccess(x);
      } else {
        if (counted) policy_->onMiss(x);
        originBytes_ += unitLength(x);
        const uint64_t toFree = cached_.size() + 1 > capacity_ ? cached_.size() + 1 - capacity_ : 0;
        if (capacity_ > 0 && policy_->shouldAdmit(1, toFree) &&
            makeRoom(*policy_, cached_, capacity_)) {
          cached_.insert(x);
          // A grain not read whole yet is cached as unread (BlockCacheFill.cc indexLocked).
          if (counted) {
            policy_->onInsert(x, 1);
          } else {
            policy_->onPrefetched(x, 1);
          }
        }
      }
      prefetch(std::min(b, ue) - std::max(a, us));
    }
  }

  // What the origin's spare bandwidth allows after `bytes` read (Replay.cc's budget, in bytes).
  void prefetch(uint64_t bytes) {
    if (o_.bandwidth <= 0 || capacity_ == 0) return;
    const double bank = std::max(static_cast<double>(unit_), o_.bandwidth * unit_);
    credit_ = std::min(bank, credit_ + o_.bandwidth * static_cast<double>(bytes));
    while (credit_ >= static_cast<double>(unit_)) {
      const uint64_t freeSlots = cached_.size() < capacity_ ? capacity_ - cached_.size() : 0;
      std::optional<BlockId> y = policy_->nextPrefetch(freeSlots);
      if (!y) return;
      const uint64_t toFree = cached_.size() + 1 > capacity_ ? cached_.size() + 1 - capacity_ : 0;
      if (cached_.contains(*y) || !policy_->shouldAdmitPrefetch(*y, 1, toFree) ||
          !makeRoom(*policy_, cached_, capacity_)) {
        policy_->onPrefetchAbandoned(*y);
        return;
      }
      cached_.insert(*y);
      policy_->onPrefetched(*y, 1);
      originBytes_ += unitLength(*y);
      credit_ -= static_cast<double>(unit_);
    }
  }

  const RecordsOptions& o_;
  const uint64_t unit_;
  const bool grain_;
  const size_t capacity_;
  const uint64_t fileBytes_;
  const uint64_t units_;
  std::unique_ptr<Policy> policy_;
  std::unordered_set<BlockId> cached_;
  std::vector<bool> head_, tail_;
  double credit_ = 0;
  uint64_t originBytes_ = 0, hits_ = 0, reads_ = 0;
};

}  // namespace

Result<std::vector<RecordsRow>> runRecords(const RecordsOptions& o) {
  if (o.records == 0 || o.recordBytes == 0) return invalid("records and record size must be >= 1");
  if (o.blockBytes == 0) return invalid("block size must be at least 1 byte");
  EPOCHFS_RETURN_IF_ERROR(checkSweep(o.fractions, o.epochs, o.seeds, o.bandwidth));
  const uint64_t fileBytes = o.firstOffset + o.records * o.recordBytes;
  const unsigned shift = cache::grain::shiftForRecords(o.recordBytes, o.blockBytes);
  std::vector<RecordsRow> rows;
  for (double f : o.fractions) {
    for (bool grain : {false, true}) {
      if (grain && shift == 0) continue;
      const uint64_t unit = grain ? uint64_t{1} << shift : o.blockBytes;
      const auto capacity = static_cast<size_t>(f * static_cast<double>(fileBytes) /
                                                static_cast<double>(unit));
      double origin = 0;
      uint64_t hits = 0, reads = 0;
      for (size_t s = 0; s < o.seeds; ++s) {
        RecordsReplay replay(o, unit, grain, capacity);
        replay.run(1000 + s, origin, hits, reads);
      }
      RecordsRow row;
      row.fraction = f;
      row.unitBytes = unit;
      row.grain = grain;
      row.originPerEpoch = origin / static_cast<double>(o.seeds * (o.epochs - 1));
      row.hitRatio = reads == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(reads);
      rows.push_back(row);
    }
  }
  return rows;
}

}  // namespace epochfs::policy::sim
