// policy/FixedSubset.h: fill the cache once, then never evict ("fixed").
//
// With every item read once per epoch in a fresh random order, any item is as good as any
// other to keep, and every eviction costs a refetch later. So the best a cache can do without
// prefetching is to keep whatever fills it first and serve exactly its fraction c of every
// epoch's reads (CoorDL's "MinIO" cache; ARCHITECTURE.md), against c + (1-c) ln(1-c) for LRU.
//
// Admits a block only when it fits without evicting anything, and never names a victim. When
// the cache must free space for reasons of its own (cache.min_free: the disk's free space
// shrank) it therefore evicts nothing and simply stops admitting until space returns. Blocks
// the cache drops itself (stale, corrupt) leave room that is filled again by later misses.
#pragma once

#include <unordered_set>

#include "policy/Policy.h"

namespace epochfs::policy {

class FixedSubset final : public Policy {
 public:
  std::string_view name() const override { return "fixed"; }
  void onInsert(BlockId id, uint64_t bytes) override;
  void onAccess(BlockId id) override;  // nothing to do: recency does not matter
  void onErase(BlockId id) override;
  // True only when bytesToFree == 0.
  bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) override;
  // Always nullopt.
  std::optional<BlockId> pickVictim() override;
  size_t size() const override { return ids_.size(); }

 private:
  std::unordered_set<BlockId> ids_;
};

}  // namespace epochfs::policy
