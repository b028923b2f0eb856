// policy/EpochWithPlans.h: the daemon's "epoch" policy: EpochAware, and Planned whenever a
// training job has published a plan.
//
// Both policies see every event (inserts, reads, misses, erases, prefetch outcomes), so each
// always knows the cache's content and the reader's progress. Decisions (admission, victims,
// what to prefetch) come from Planned while the plan has reads ahead of the reader, and from
// EpochAware otherwise: with a plan, prefetch runs ahead in plan order and evicts the block
// needed farthest ahead but never one needed later in the same epoch; without one (or once the
// reader has gone past its end) the passive rules of EpochAware apply. A victim request
// answers from the policy that made the last admission decision, so that a shouldAdmit() and
// the pickVictim() calls it leads to always agree.
//
// Not thread-safe (see Policy.h).
#pragma once

#include <unordered_set>

#include "policy/EpochAware.h"
#include "policy/Planned.h"

namespace epochfs::policy {

class EpochWithPlans final : public Policy {
 public:
  EpochWithPlans() : EpochWithPlans(EpochAwareOptions{}, PlannedOptions{}) {}
  EpochWithPlans(const EpochAwareOptions& epochOpts, const PlannedOptions& planOpts)
      : passive_(epochOpts), planned_(planOpts) {}

  std::string_view name() const override { return "epoch"; }
  void onInsert(BlockId id, uint64_t bytes) override;
  void onAccess(BlockId id) override;
  void onErase(BlockId id) override;
  bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) override;
  std::optional<BlockId> pickVictim() override;
  size_t size() const override { return passive_.size(); }

  void onMiss(BlockId id) override;
  // Only EpochAware prefetches discovered blocks (a plan names what it wants itself).
  void onDiscovered(BlockId id) override { passive_.onDiscovered(id); }
  void onEpoch(uint64_t epoch) override { passive_.onEpoch(epoch); }
  void onPrefetchLead(uint64_t positions) override { planned_.onPrefetchLead(positions); }
  void onReaderEpoch(uint64_t epoch) override { planned_.onReaderEpoch(epoch); }
  uint64_t plansDiscarded() const override { return planned_.plansDiscarded(); }
  std::optional<BlockId> nextPrefetch(uint64_t freeBytes) override;
  bool shouldAdmitPrefetch(BlockId id, uint64_t bytes, uint64_t bytesToFree) override;
  void onPrefetched(BlockId id, uint64_t bytes) override;
  void onPrefetchAbandoned(BlockId id) override;
  void onPrefetchFailed(BlockId id) override;
  bool addPlan(const std::vector<BlockId>& order, uint64_t stream) override;
  bool resumePlan(const std::vector<BlockId>& order, uint64_t stream) override {
    return planned_.resumePlan(order, stream);
  }
  PolicyInfo info() const override;

  // Whether decisions follow the plan now.
  bool planActive() const { return planned_.cursor() < planned_.planLength(); }
  const EpochAware& passive() const { return passive_; }
  const Planned& planned() const { return planned_; }

 private:
  EpochAware passive_;
  Planned planned_;
  bool lastFromPlan_ = false;               // who answered the last admission question
  std::unordered_set<BlockId> planFlights_;  // prefetches the plan named
};

}  // namespace epochfs::policy
