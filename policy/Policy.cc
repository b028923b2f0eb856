// policy/Policy.cc: the factory, the one place that knows every policy's name.
#include "policy/Policy.h"

#include "policy/FixedSubset.h"
#include "policy/Lru.h"

namespace epochfs::policy {

std::vector<std::string_view> policyNames() { return {"lru", "fixed"}; }

Result<std::unique_ptr<Policy>> makePolicy(std::string_view name) {
  if (name == "lru") return std::unique_ptr<Policy>(std::make_unique<Lru>());
  if (name == "fixed") return std::unique_ptr<Policy>(std::make_unique<FixedSubset>());
  std::string valid;
  for (std::string_view n : policyNames()) {
    if (!valid.empty()) valid += ", ";
    valid += n;
  }
  return invalid("unknown policy '" + std::string(name) + "' (valid: " + valid + ")");
}

}  // namespace epochfs::policy
