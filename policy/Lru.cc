// policy/Lru.cc: a list in recency order plus a map into it; every call is O(1).
#include "policy/Lru.h"

namespace epochfs::policy {

void Lru::touch(std::unordered_map<BlockId, std::list<BlockId>::iterator>::iterator it) {
  // splice moves the node without reallocating, so the stored iterator stays valid.
  order_.splice(order_.begin(), order_, it->second);
}

void Lru::onInsert(BlockId id, uint64_t /*bytes*/) {
  auto it = where_.find(id);
  if (it != where_.end()) {
    touch(it);
    return;
  }
  order_.push_front(id);
  where_.emplace(id, order_.begin());
}

void Lru::onAccess(BlockId id) {
  auto it = where_.find(id);
  if (it != where_.end()) touch(it);
}

void Lru::onErase(BlockId id) {
  auto it = where_.find(id);
  if (it == where_.end()) return;
  order_.erase(it->second);
  where_.erase(it);
}

bool Lru::shouldAdmit(uint64_t /*bytes*/, uint64_t /*bytesToFree*/) { return true; }

std::optional<BlockId> Lru::pickVictim() {
  if (order_.empty()) return std::nullopt;
  return order_.back();
}

}  // namespace epochfs::policy
