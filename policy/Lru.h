// policy/Lru.h: least recently used, the baseline.
//
// Evicts the block inserted or read longest ago. This is what every peer ships; on
// epoch-shuffled reads it serves only c + (1-c) ln(1-c) of reads from a cache holding a
// fraction c of the dataset (ARCHITECTURE.md), and nothing at all when the same order
// repeats and the dataset is larger than the cache. Kept as the reference point.
#pragma once

#include <list>
#include <unordered_map>

#include "policy/Policy.h"

namespace epochfs::policy {

class Lru final : public Policy {
 public:
  std::string_view name() const override { return "lru"; }
  // Inserting a block already tracked counts as an access.
  void onInsert(BlockId id, uint64_t bytes) override;
  void onAccess(BlockId id) override;  // unknown ids are ignored
  // A block being read (a shard streamed in 128 KiB reads) stays the most recently used.
  void onTouch(BlockId id) override { onAccess(id); }
  void onErase(BlockId id) override;
  // Always yes: LRU makes room for everything.
  bool shouldAdmit(uint64_t bytes, uint64_t bytesToFree) override;
  // The least recently inserted or accessed block; nullopt when empty.
  std::optional<BlockId> pickVictim() override;
  size_t size() const override { return where_.size(); }

 private:
  void touch(std::unordered_map<BlockId, std::list<BlockId>::iterator>::iterator it);

  std::list<BlockId> order_;  // most recently used first
  std::unordered_map<BlockId, std::list<BlockId>::iterator> where_;  // id -> its node
};

}  // namespace epochfs::policy
