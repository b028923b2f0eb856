// policy/FixedSubset.cc
#include "policy/FixedSubset.h"

namespace epochfs::policy {

// The set is only kept so size() is truthful for stats and for the cache's sanity bounds.
void FixedSubset::onInsert(BlockId id, uint64_t /*bytes*/) { ids_.insert(id); }

void FixedSubset::onAccess(BlockId /*id*/) {}

void FixedSubset::onErase(BlockId id) { ids_.erase(id); }

bool FixedSubset::shouldAdmit(uint64_t /*bytes*/, uint64_t bytesToFree) {
  return bytesToFree == 0;
}

std::optional<BlockId> FixedSubset::pickVictim() { return std::nullopt; }

}  // namespace epochfs::policy
