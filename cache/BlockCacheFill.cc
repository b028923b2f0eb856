// Filling the cache after a miss: admission, eviction, space accounting and the write.
#include <sys/statvfs.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <optional>
#include <string>

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

bool BlockCacheImpl::fill(const BlockRead& br, const Fetched& block, PolicyId pid,
                          bool prefetch) {
  maybeRefreshMeta(/*force=*/false);
  // Read before taking the lock (a syscall).
  const std::optional<uint64_t> avail = availableBytes();
  Doomed unlinkLater;
  Admission a;
  {
    std::lock_guard<std::mutex> g(mu_);
    a = admitLocked(br.file->etag, block.size, pid, prefetch, avail, unlinkLater);
  }
  // The victims' files go before ours is written, so the disk never holds both.
  unlinkAll(unlinkLater);
  if (!a.admitted) return false;
  return store(br, block, a, pid, prefetch);
}

BlockCacheImpl::Admission BlockCacheImpl::admitLocked(const std::string& etag, uint64_t len,
                                                      PolicyId pid, bool prefetch,
                                                      std::optional<uint64_t> avail,
                                                      Doomed& unlinkLater) {
  Admission a;
  a.alloc = BlockStore::allocatedBytes(len);
  auto abandon = [&] {
    if (prefetch) policy_->onPrefetchAbandoned(pid);
    return a;
  };
  auto existing = entries_.find(pid);
  if (existing != entries_.end()) {
    // Cached meanwhile by another flight; or, for a prefetch, another version that only a
    // demand read may replace (its fetch proves which version is current).
    if (cachedEtagLocked(pid, existing->second) == etag || prefetch) return abandon();
    staleDrops_++;
    dropLocked(existing, unlinkLater);
  }
  AdmitPlan plan = planLocked(a.alloc, avail);
  const bool yes = plan.possible && (prefetch ? policy_->shouldAdmitPrefetch(pid, len, plan.toFree)
                                              : policy_->shouldAdmit(len, plan.toFree));
  if (yes) {
    uint64_t freed = 0;
    // Bounded: a policy naming blocks the cache does not know must not spin us forever.
    size_t budget = entries_.size() + policy_->size() + 1;
    while (freed < plan.toFree && budget-- > 0) {
      std::optional<PolicyId> victim = policy_->pickVictim();
      if (!victim) break;
      freed += evictLocked(*victim, unlinkLater);
    }
    if (freed >= plan.toFree) {
      a.admitted = true;
      a.id = nextId_++;
      reserved_ += a.alloc;
      return a;
    }
  }
  if (prefetch) {
    prefetchStats_.declined++;
  } else {
    notAdmitted_++;
  }
  return abandon();
}

bool BlockCacheImpl::store(const BlockRead& br, const Fetched& block, const Admission& a,
                           PolicyId pid, bool prefetch) {
  const uint64_t len = block.size;
  const uint64_t alloc = a.alloc;
  const BlockId id = a.id;
  Doomed unlinkLater;
  std::span<const std::byte> bytes(block.bytes.get(), block.size);
  std::vector<uint64_t> sums = chunkChecksums(bytes);
  Status st = store_->write(id, bytes);

  const bool written = st.isOk();  // a failed write leaves no file behind
  bool indexed = false;
  bool resumed = false;  // this write ended a write-failure episode
  std::string logLine;
  {
    std::lock_guard<std::mutex> g(mu_);
    reserved_ -= alloc;
    if (st.isOk()) {
      auto existing = entries_.find(pid);
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
        // The latest version seen may be another by now (a reader of another version).
        std::unique_ptr<std::string> ownEtag;
        if (known_[pid - 1].etag != br.file->etag) {
          ownEtag = std::make_unique<std::string>(br.file->etag);
        }
        entries_.emplace(pid, Entry(id, static_cast<uint32_t>(len), std::move(ownEtag), sums));
        pidsById_.emplace(id, pid);
        allocated_ += alloc;
        if (prefetch) {
          policy_->onPrefetched(pid, len);
          // Unread unless a reader took it from the fetch (joined the flight) meanwhile.
          Known& k = known_[pid - 1];
          k.prefetchedUnread = k.lastReadSeq <= a.readSeq;
          prefetchStats_.prefetched++;
          prefetchStats_.prefetchedBytes += len;
          epochLocked().prefetched++;
        } else {
          policy_->onInsert(pid, len);
        }
        insertsSinceRefresh_++;
        indexed = true;
      }
    }
    if (!st.isOk()) notAdmitted_++;
    resumed = st.isOk() && writeBackoff_.inEpisode();
    logLine = noteWriteLocked(br, pid, prefetch, st);
    if (written && !indexed) {
      unlinking_ += alloc;
      unlinkLater.emplace_back(id, alloc);
    }
  }
  if (!logLine.empty()) {
    if (indexed) {
      spdlog::info("{}", logLine);
    } else {
      spdlog::warn("{}", logLine);
    }
  }
  if (indexed && resumed) wakePrefetchers();
  unlinkAll(unlinkLater);
  return indexed;
}

std::string BlockCacheImpl::noteWriteLocked(const BlockRead& br, PolicyId pid, bool prefetch,
                                            const Status& failure) {
  if (failure.isOk()) {
    if (!writeBackoff_.onSuccess()) return {};
    return "cache: block writes work again after " +
           std::to_string(writeBackoff_.episodeFailures()) + " failures; prefetch resumes";
  }
  writeFailures_++;
  // Not again in this epoch: a policy told onPrefetchAbandoned would name the block at once
  // again, and the next fetch of it would be as wasted as this one.
  if (prefetch) policy_->onPrefetchFailed(pid);
  const WriteBackoff::Failure f = writeBackoff_.onFailure(WriteBackoff::Clock::now());
  const auto pauseMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(writeBackoff_.currentPause()).count();
  if (f == WriteBackoff::Failure::kEpisodeStarted) {
    // One line per episode, however many blocks fail in it: the cause is the same.
    return "cache: cannot cache block " + std::to_string(br.blockNo) + " of '" + br.file->key +
           "': " + failure.toString() + "; reads are served from the origin, prefetch pauses " +
           std::to_string(pauseMs) + " ms and backs off while writes fail (not logged again "
           "until a block is written; see cache.write_failures)";
  }
  if (f != WriteBackoff::Failure::kWhilePaused) {
    spdlog::debug("cache: block writes still fail ({}); prefetch pauses {} ms",
                  failure.toString(), pauseMs);
  }
  return {};
}

uint64_t BlockCacheImpl::dropLocked(Entries::iterator it, Doomed& unlinkLater) {
  const PolicyId pid = it->first;
  const BlockId id = it->second.id;
  const uint64_t alloc = it->second.allocated();
  // Index first: if we crash before the unlink, recovery deletes the unreferenced file; the
  // other order would leave an entry whose file is gone (also recovered, but noisier).
  Status st = index_->erase(*known_[pid - 1].key);
  if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
  pidsById_.erase(id);
  entries_.erase(it);
  allocated_ -= alloc;
  unlinking_ += alloc;
  policy_->onErase(pid);
  Known& k = known_[pid - 1];
  if (k.prefetchedUnread) {
    k.prefetchedUnread = false;
    prefetchStats_.unused++;
    epochLocked().prefetchUnused++;
  }
  unlinkLater.emplace_back(id, alloc);
  return alloc;
}

uint64_t BlockCacheImpl::evictLocked(PolicyId pid, Doomed& unlinkLater) {
  auto it = entries_.find(pid);
  if (it == entries_.end()) {
    policy_->onErase(pid);  // the policy tracks a block we do not have: let it forget it
    return 0;
  }
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
