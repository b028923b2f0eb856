// policy/sim/Replay.cc: the cache and its prefetcher, reduced to a set of slots and a budget.
#include "policy/sim/Replay.h"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <random>
#include <unordered_set>

#include "policy/Planned.h"

namespace epochfs::policy::sim {

EpochTrace makeEpochTrace(size_t n, size_t epochs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  EpochTrace trace(epochs, std::vector<BlockId>(n));
  for (std::vector<BlockId>& perm : trace) {
    std::iota(perm.begin(), perm.end(), BlockId{0});
    std::shuffle(perm.begin(), perm.end(), rng);
  }
  return trace;
}

namespace {

uint64_t sumFrom1(const std::vector<uint64_t>& v) {
  return v.size() > 1 ? std::accumulate(v.begin() + 1, v.end(), uint64_t{0}) : 0;
}

}  // namespace

bool makeRoom(Policy& policy, std::unordered_set<BlockId>& cached, size_t capacity) {
  size_t budget = cached.size() + 1;
  while (cached.size() + 1 > capacity && budget-- > 0) {
    std::optional<BlockId> victim = policy.pickVictim();
    if (!victim) return false;
    // A victim the cache does not hold is a policy bug; the real cache tolerates it too.
    assert(cached.contains(*victim));
    cached.erase(*victim);
    policy.onErase(*victim);
  }
  return cached.size() + 1 <= capacity;
}

double ReplayResult::steadyHitRatio() const {
  if (hits.size() < 2 || items == 0) return 0;
  return static_cast<double>(sumFrom1(hits)) / static_cast<double>((hits.size() - 1) * items);
}

double ReplayResult::steadyOriginPerRead() const {
  if (hits.size() < 2 || items == 0) return 0;
  const double reads = static_cast<double>((hits.size() - 1) * items);
  const double misses = reads - static_cast<double>(sumFrom1(hits));
  return (misses + static_cast<double>(sumFrom1(prefetches))) / reads;
}

ReplayResult replay(Policy& policy, const EpochTrace& trace, const ReplayOptions& opts) {
  ReplayResult r;
  r.items = trace.empty() ? 0 : trace.front().size();
  const size_t cap = opts.capacity;
  auto* planned = dynamic_cast<Planned*>(&policy);
  std::unordered_set<BlockId> cached;
  const double bank = std::max(1.0, opts.bandwidth);
  double credit = 0;
  for (size_t e = 0; e < trace.size(); ++e) {
    if (opts.announceEpochs) policy.onEpoch(e + 1);
    if (opts.plan && planned != nullptr) {
      for (size_t k = e == 0 ? 0 : e + opts.planAhead; k <= e + opts.planAhead && k < trace.size();
           ++k) {
        planned->addPlan(trace[k]);
      }
    }
    uint64_t hits = 0, prefetches = 0, notAdmitted = 0;
    for (BlockId x : trace[e]) {
      if (cached.contains(x)) {
        ++hits;
        policy.onAccess(x);
      } else {
        policy.onMiss(x);
        const uint64_t toFree = cached.size() + 1 > cap ? cached.size() + 1 - cap : 0;
        if (cap > 0 && policy.shouldAdmit(1, toFree) && makeRoom(policy, cached, cap)) {
          cached.insert(x);
          policy.onInsert(x, 1);
        } else {
          ++notAdmitted;
        }
      }
      if (opts.bandwidth <= 0 || cap == 0) continue;
      credit = std::min(bank, credit + opts.bandwidth);
      while (credit >= 1.0) {
        const uint64_t freeSlots = cached.size() < cap ? cap - cached.size() : 0;
        std::optional<BlockId> y = policy.nextPrefetch(freeSlots);
        if (!y) break;
        if (cached.contains(*y)) {  // a policy bug; do not loop on it
          assert(false && "nextPrefetch named a cached block");
          policy.onPrefetchAbandoned(*y);
          break;
        }
        const uint64_t toFree = cached.size() + 1 > cap ? cached.size() + 1 - cap : 0;
        if (!policy.shouldAdmitPrefetch(*y, 1, toFree) || !makeRoom(policy, cached, cap)) {
          policy.onPrefetchAbandoned(*y);
          break;
        }
        cached.insert(*y);
        policy.onPrefetched(*y, 1);
        credit -= 1.0;
        ++prefetches;
      }
    }
    r.hits.push_back(hits);
    r.prefetches.push_back(prefetches);
    r.notAdmitted.push_back(notAdmitted);
  }
  return r;
}

}  // namespace epochfs::policy::sim
