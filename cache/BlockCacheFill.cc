// Filling the cache after a miss: admission, eviction, space accounting and the write.
#include <sys/statvfs.h>

#include <algorithm>
#include <cassert>
#include <optional>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"

namespace epochfs::cache {

void BlockCacheImpl::fill(const BlockRead& br, const Fetched& block) {
  const uint64_t len = block.size;
  const uint64_t alloc = BlockStore::allocatedBytes(len);
  maybeRefreshMeta(/*force=*/false);

  // Free space on the cache filesystem, read before taking the lock (a syscall); the bytes
  // other fills have reserved but not yet written are subtracted under the lock.
  std::optional<uint64_t> avail;
  struct statvfs vfs {};
  if (::statvfs(opts_.dir.c_str(), &vfs) == 0) {
    avail = static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  }

  std::vector<BlockId> unlinkLater;
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
    const uint64_t limit = opts_.sizeBytes;
    const uint64_t fixed = metaBytes_ + reserve_;
    uint64_t toFree = 0;
    bool possible = fixed + alloc <= limit;
    if (possible) {
      uint64_t usage = allocated_ + reserved_ + fixed;
      toFree = usage + alloc > limit ? usage + alloc - limit : 0;
    }
    if (possible && avail) {
      uint64_t freeNow = *avail - std::min(*avail, reserved_);
      uint64_t need = opts_.minFreeBytes + alloc;
      if (freeNow < need) {
        // Evicting our own blocks is the only way to get the space; give up early when even
        // evicting all of them would not do.
        possible = need - freeNow <= allocated_;
        toFree = std::max(toFree, need - freeNow);
      }
    }
    if (possible && policy_->shouldAdmit(len, toFree)) {
      uint64_t freed = 0;
      // Bounded: a policy naming blocks the cache does not know must not spin us forever.
      size_t budget = entries_.size() + policy_->size() + 1;
      while (freed < toFree && budget-- > 0) {
        std::optional<BlockId> victim = policy_->pickVictim();
        if (!victim) break;
        freed += evictLocked(*victim, unlinkLater);
      }
      if (freed >= toFree) {
        admitted = true;
        id = nextId_++;
        reserved_ += alloc;
      }
    }
    if (!admitted) notAdmitted_++;
  }
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
  }
  if (written && !indexed) unlinkLater.push_back(id);
  unlinkAll(unlinkLater);
}

uint64_t BlockCacheImpl::dropLocked(std::unordered_map<std::string, Entry>::iterator it,
                                    std::vector<BlockId>& unlinkLater) {
  const BlockId id = it->second.id;
  const uint64_t alloc = it->second.allocated;
  // Index first: if we crash before the unlink, recovery deletes the unreferenced file; the
  // other order would leave an entry whose file is gone (also recovered, but noisier).
  Status st = index_->erase(it->first);
  if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
  keysById_.erase(id);
  entries_.erase(it);
  allocated_ -= alloc;
  policy_->onErase(id);
  unlinkLater.push_back(id);
  return alloc;
}

uint64_t BlockCacheImpl::evictLocked(BlockId id, std::vector<BlockId>& unlinkLater) {
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

void BlockCacheImpl::unlinkAll(const std::vector<BlockId>& ids) {
  for (BlockId id : ids) {
    Status st = store_->remove(id);
    // Not fatal: the index no longer names the file, so the next open deletes it.
    if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
  }
}

}  // namespace epochfs::cache
