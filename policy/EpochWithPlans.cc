// policy/EpochWithPlans.cc
#include "policy/EpochWithPlans.h"

namespace epochfs::policy {

void EpochWithPlans::onInsert(BlockId id, uint64_t bytes) {
  passive_.onInsert(id, bytes);
  planned_.onInsert(id, bytes);
}

void EpochWithPlans::onAccess(BlockId id) {
  passive_.onAccess(id);
  planned_.onAccess(id);
}

void EpochWithPlans::onErase(BlockId id) {
  passive_.onErase(id);
  planned_.onErase(id);
}

void EpochWithPlans::onMiss(BlockId id) {
  passive_.onMiss(id);
  planned_.onMiss(id);
}

bool EpochWithPlans::shouldAdmit(uint64_t bytes, uint64_t bytesToFree) {
  lastFromPlan_ = planActive();
  return lastFromPlan_ ? planned_.shouldAdmit(bytes, bytesToFree)
                       : passive_.shouldAdmit(bytes, bytesToFree);
}

std::optional<BlockId> EpochWithPlans::pickVictim() {
  return lastFromPlan_ ? planned_.pickVictim() : passive_.pickVictim();
}

std::optional<BlockId> EpochWithPlans::nextPrefetch(uint64_t freeBytes) {
  if (planActive()) {
    std::optional<BlockId> id = planned_.nextPrefetch(freeBytes);
    if (id) planFlights_.insert(*id);
    // Nothing left to fetch ahead of the reader within the plan's rules: the passive rules
    // would only fill the space the plan keeps for blocks it needs, so do nothing.
    return id;
  }
  return passive_.nextPrefetch(freeBytes);
}

bool EpochWithPlans::shouldAdmitPrefetch(BlockId id, uint64_t bytes, uint64_t bytesToFree) {
  lastFromPlan_ = planFlights_.contains(id);
  return lastFromPlan_ ? planned_.shouldAdmitPrefetch(id, bytes, bytesToFree)
                       : passive_.shouldAdmitPrefetch(id, bytes, bytesToFree);
}

void EpochWithPlans::onPrefetched(BlockId id, uint64_t bytes) {
  planFlights_.erase(id);
  passive_.onPrefetched(id, bytes);
  planned_.onPrefetched(id, bytes);
}

void EpochWithPlans::onPrefetchAbandoned(BlockId id) {
  planFlights_.erase(id);
  passive_.onPrefetchAbandoned(id);
  planned_.onPrefetchAbandoned(id);
}

void EpochWithPlans::onPrefetchFailed(BlockId id) {
  planFlights_.erase(id);
  passive_.onPrefetchFailed(id);
  planned_.onPrefetchFailed(id);
}

bool EpochWithPlans::addPlan(const std::vector<BlockId>& order, uint64_t stream) {
  return planned_.addPlan(order, stream);
}

PolicyInfo EpochWithPlans::info() const {
  PolicyInfo pi = planActive() ? planned_.info() : passive_.info();
  PolicyInfo plan = planned_.info();
  pi.epoch = passive_.epoch();
  pi.activePlans = plan.activePlans;
  pi.plansDiscarded = plan.plansDiscarded;
  pi.planRemaining = plan.planRemaining;
  pi.planActive = planActive();
  return pi;
}

}  // namespace epochfs::policy
