// Filling the cache after a miss: admission, eviction, space accounting and the write.
#include <sys/statvfs.h>

#include <algorithm>
#include <cassert>
#include <optional>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"

namespace epochfs::cache {

std::optional<uint64_t> BlockCacheImpl::availableBytes() const {
  struct statvfs vfs {};
  if (::statvfs(opts_.dir.c_str(), &vfs) != 0) return std::nullopt;
  return static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
}

BlockCacheImpl::AdmitPlan BlockCacheImpl::planLocked(uint64_t alloc,
                                                     std::optional<uint64_t> avail) const {
  AdmitPlan plan;
  const uint64_t limit = opts_.sizeBytes;
  const uint64_t fixed = metaBytes_ + reserve_;
  plan.possible = fixed + alloc <= limit;
  if (!plan.possible) return plan;
  uint64_t usage = allocated_ + reserved_ + unlinking_ + fixed;
  plan.toFree = usage + alloc > limit ? usage + alloc - limit : 0;
  if (avail) {
    // Blocks reserved but not yet written will take their space too; the metadata reserve
    // covers index growth, as it does for cache.size.
    uint64_t freeNow = *avail - std::min(*avail, reserved_);
    uint64_t need = opts_.minFreeBytes + reserve_ + alloc;
    if (freeNow < need) {
      // Evicting our own blocks is the only way to get the space; give up early when even
      // evicting all of them would not do.
      plan.possible = need - freeNow <= allocated_;
      plan.toFree = std::max(plan.toFree, need - freeNow);
    }
  }
  return plan;
}

bool BlockCacheImpl::wouldAdmit(uint64_t len) {
  std::optional<uint64_t> avail = availableBytes();
  std::lock_guard<std::mutex> g(mu_);
  AdmitPlan plan = planLocked(BlockStore::allocatedBytes(len), avail);
  return plan.possible && policy_->shouldAdmit(len, plan.toFree);
}

void BlockCacheImpl::fill(const BlockRead& br, const Fetched& block) {
  const uint64_t len = block.size;
  const uint64_t alloc = BlockStore::allocatedBytes(len);
  maybeRefreshMeta(/*force=*/false);
  // Read before taking the lock (a syscall).
  std::optional<uint64_t> avail = availableBytes();

  Doomed unlinkLater;
  BlockId id = 0;
  bool admitted = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto existing = entries_.find(br.key);
    if (existing != entries_.end()) {
      if (existing->second.etag == br.file->etag) return;  // cached meanwhile by another flight
      staleDrops_++;
      dropLocked(existing, unlinkLater);
    }
    AdmitPlan plan = planLocked(alloc, avail);
    if (plan.possible && policy_->shouldAdmit(len, plan.toFree)) {
      uint64_t freed = 0;
      // Bounded: a policy naming blocks the cache does not know must not spin us forever.
      size_t budget = entries_.size() + policy_->size() + 1;
      while (freed < plan.toFree && budget-- > 0) {
        std::optional<BlockId> victim = policy_->pickVictim();
        if (!victim) break;
        freed += evictLocked(*victim, unlinkLater);
      }
      if (freed >= plan.toFree) {
        admitted = true;
        id = nextId_++;
        reserved_ += alloc;
      }
    }
    if (!admitted) notAdmitted_++;
  }
  // The victims' files go before ours is written, so the disk never holds both.
  unlinkAll(unlinkLater);
  unlinkLater.clear();
  if (!admitted) return;

  std::span<const std::byte> bytes(block.bytes.get(), block.size);
  std::vector<uint64_t> sums = chunkChecksums(bytes);
  Status st = store_->write(id, bytes);
  if (!st.isOk()) {
    spdlog::warn("cache: not caching block {} of '{}': {}", br.blockNo, br.file->key,
                 st.toString());
  }

  const bool written = st.isOk();  // a failed write leaves no file behind
  bool indexed = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    reserved_ -= alloc;
    if (st.isOk()) {
      auto existing = entries_.find(br.key);
      if (existing != entries_.end()) {
        // Another fill of this block (a flight of another etag) finished first. Keep the
        // newcomer: the reader that supplied it saw the file more recently, as far as we know.
        staleDrops_++;
        dropLocked(existing, unlinkLater);
      }
      IndexEntry ie{id, static_cast<uint32_t>(len), br.file->etag, sums};
      // Indexed only after the file is complete and in place: see BlockCache.h.
      st = index_->put(br.key, ie);
      if (st.isOk()) {
        entries_.emplace(br.key, Entry{id, static_cast<uint32_t>(len), alloc, br.file->etag,
                                       std::move(sums)});
        keysById_.emplace(id, br.key);
        allocated_ += alloc;
        policy_->onInsert(id, len);
        insertsSinceRefresh_++;
        indexed = true;
      } else {
        spdlog::warn("cache: not caching block {} of '{}': {}", br.blockNo, br.file->key,
                     st.toString());
      }
    }
    if (!st.isOk()) notAdmitted_++;
    if (written && !indexed) {
      unlinking_ += alloc;
      unlinkLater.emplace_back(id, alloc);
    }
  }
  unlinkAll(unlinkLater);
}

uint64_t BlockCacheImpl::dropLocked(std::unordered_map<std::string, Entry>::iterator it,
                                    Doomed& unlinkLater) {
  const BlockId id = it->second.id;
  const uint64_t alloc = it->second.allocated;
  // Index first: if we crash before the unlink, recovery deletes the unreferenced file; the
  // other order would leave an entry whose file is gone (also recovered, but noisier).
  Status st = index_->erase(it->first);
  if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
  keysById_.erase(id);
  entries_.erase(it);
  allocated_ -= alloc;
  unlinking_ += alloc;
  policy_->onErase(id);
  unlinkLater.emplace_back(id, alloc);
  return alloc;
}

uint64_t BlockCacheImpl::evictLocked(BlockId id, Doomed& unlinkLater) {
  auto k = keysById_.find(id);
  if (k == keysById_.end()) {
    policy_->onErase(id);  // the policy tracks a block we do not have: let it forget it
    return 0;
  }
  auto it = entries_.find(k->second);
  assert(it != entries_.end() && it->second.id == id);
  evictions_++;
  return dropLocked(it, unlinkLater);
}

void BlockCacheImpl::unlinkAll(const Doomed& doomed) {
  if (doomed.empty()) return;
  uint64_t bytes = 0;
  for (const auto& [id, alloc] : doomed) {
    Status st = store_->remove(id);
    // Not fatal: the index no longer names the file, so the next open deletes it.
    if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
    bytes += alloc;
  }
  std::lock_guard<std::mutex> g(mu_);
  unlinking_ -= bytes;
}

}  // namespace epochfs::cache
