// policy/Policy.cc: the factory, the one place that knows which class each name of kPolicies
// (common/PolicyNames.h) is.
#include "policy/Policy.h"

#include "common/PolicyNames.h"
#include "policy/EpochWithPlans.h"
#include "policy/FixedSubset.h"
#include "policy/Lru.h"
#include "policy/Planned.h"

namespace epochfs::policy {

std::vector<std::string_view> policyNames() {
  std::vector<std::string_view> names;
  for (const PolicyName& p : kPolicies) names.push_back(p.name);
  return names;
}

Result<std::unique_ptr<Policy>> makePolicy(std::string_view name) {
  if (name == "lru") return std::unique_ptr<Policy>(std::make_unique<Lru>());
  if (name == "fixed") return std::unique_ptr<Policy>(std::make_unique<FixedSubset>());
  if (name == "epoch") return std::unique_ptr<Policy>(std::make_unique<EpochWithPlans>());
  if (name == "planned") return std::unique_ptr<Policy>(std::make_unique<Planned>());
  std::string valid;
  for (std::string_view n : policyNames()) {
    if (!valid.empty()) valid += ", ";
    valid += n;
  }
  return invalid("unknown policy '" + std::string(name) + "' (valid: " + valid + ")");
}

}  // namespace epochfs::policy
