// common/PolicyNames.h: the names of the cache policies, one list for the two modules that
// need it and depend on neither of each other: policy/ builds each of them (makePolicy()),
// config/ checks policy.name against those a mount may run (config::kPolicyNames).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

namespace epochfs {

struct PolicyName {
  std::string_view name;  // as makePolicy(), policy.name and `epochfs simulate` spell it
  // Keeps and prefetches by a published plan alone; without one it keeps what it has. A mount
  // does not offer it (policy.name): there "epoch" follows a plan whenever one is published
  // (docs/policies.md). `epochfs simulate` runs it only with --plan.
  bool needsPlan = false;
};

// In the order docs/policies.md, `epochfs simulate` and makePolicy()'s errors list them.
inline constexpr std::array<PolicyName, 4> kPolicies = {{
    {"lru", false},
    {"fixed", false},
    {"epoch", false},
    {"planned", true},
}};

// How many of kPolicies a mount may run (those that do not need a plan).
inline constexpr size_t kMountablePolicies =
    static_cast<size_t>(std::ranges::count(kPolicies, false, &PolicyName::needsPlan));

}  // namespace epochfs
