// Filling the cache after a fetch: admission, eviction, space accounting and the write.
#include <sys/statvfs.h>

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

bool BlockCacheImpl::fill(const BlockRead& br, const FetchedBlock& block, PolicyId pid) {
  refreshMeta(/*force=*/false);
  // Read before taking the lock (a syscall).
  const std::optional<uint64_t> avail = availableBytes();
  Doomed unlinkLater;
  Admission a;
  {
    std::lock_guard<std::mutex> g(mu_);
    a = admitLocked(br.etag, block.size, pid, /*prefetch=*/false, avail, unlinkLater);
  }
  // The victims' files go before ours is written, so the disk never holds both.
  unlinkAll(unlinkLater);
  if (!a.admitted) return false;
  return store(br, block, a, pid, /*prefetch=*/false);
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
  if (const Entry* existing = cached_.find(pid)) {
    // Cached meanwhile by another flight; or, for a prefetch, another version that only a
    // demand read may replace (its fetch proves which version is current).
    if (cachedEtagLocked(pid, *existing) == etag || prefetch) return abandon();
    counters_.staleDrops++;
    dropLocked(pid, unlinkLater);
  }
  const SpaceAccount::Plan plan = space_.plan(a.alloc, avail);
  const bool yes = plan.possible && (prefetch ? policy_->shouldAdmitPrefetch(pid, len, plan.toFree)
                                              : policy_->shouldAdmit(len, plan.toFree));
  if (yes && evictForLocked(plan.toFree, unlinkLater) >= plan.toFree) {
    const BlockRegistry::Block& b = registry_.at(pid);
    if (inObject(b.blockNo, static_cast<uint32_t>(len))) {
      std::optional<BlockFileId> obj = takeObjectLocked(b.fileKey(), etag, b.blockNo);
      if (!obj) return abandon();  // its range is being punched out: the next read caches it
      a.object = true;
      a.id = *obj;
      a.offset = fileOffset(true, b.blockNo);
    } else {
      a.id = BlockFileId{nextFileId_++};
    }
    a.admitted = true;
    space_.reserve(a.alloc);
    return a;
  }
  if (prefetch) {
    prefetcher_.counters().declined++;
  } else {
    counters_.notAdmitted++;
  }
  return abandon();
}

uint64_t BlockCacheImpl::evictForLocked(uint64_t toFree, Doomed& unlinkLater) {
  uint64_t freed = 0;
  // Bounded: a policy naming blocks the cache does not know must not spin us forever.
  size_t budget = cached_.size() + policy_->size() + 1;
  while (freed < toFree && budget-- > 0) {
    std::optional<PolicyId> victim = policy_->pickVictim();
    if (!victim) break;
    freed += evictLocked(*victim, unlinkLater);
  }
  return freed;
}

bool BlockCacheImpl::store(const BlockRead& br, const FetchedBlock& block, const Admission& a,
                           PolicyId pid, bool prefetch) {
  Doomed unlinkLater;
  std::span<const std::byte> bytes(block.bytes.get(), block.size);
  const std::vector<uint64_t> sums = chunkChecksums(bytes);
  Status st = a.object ? store_->writeAt(a.id, a.offset, bytes) : store_->write(a.id, bytes);

  const bool written = st.isOk();  // a failed write leaves no file (or range) behind
  bool indexed = false;
  bool resumed = false;  // this write ended a write-failure episode
  std::string logLine;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (written) indexed = indexLocked(br, a, pid, prefetch, sums, st, unlinkLater);
    if (!indexed) space_.release(a.alloc);
    if (!st.isOk()) counters_.notAdmitted++;
    resumed = st.isOk() && writeBackoff_.inEpisode();
    logLine = noteWriteLocked(br, pid, prefetch, st);
    if (a.object && !indexed) {
      if (written) space_.unlinking(a.alloc);
      leaveObjectLocked(a.id, br.blockNo, written ? a.alloc : 0, written, pid, unlinkLater);
    } else if (written && !indexed) {
      space_.unlinking(a.alloc);
      unlinkLater.push_back({a.id, a.alloc});
    }
  }
  if (!logLine.empty()) {
    if (indexed) {
      spdlog::info("{}", logLine);
    } else {
      spdlog::warn("{}", logLine);
    }
  }
  if (indexed && resumed) prefetcher_.wakeAll();
  unlinkAll(unlinkLater);
  return indexed;
}

bool BlockCacheImpl::indexLocked(const BlockRead& br, const Admission& a, PolicyId pid,
                                 bool prefetch, const std::vector<uint64_t>& sums, Status& st,
                                 Doomed& unlinkLater) {
  if (cached_.find(pid) != nullptr) {
    // Another fill of this block (a flight of another etag) finished first. Keep the
    // newcomer: the reader that supplied it saw the file more recently, as far as we know.
    counters_.staleDrops++;
    dropLocked(pid, unlinkLater);
  }
  IndexEntry ie{toU64(a.id), br.length, br.etag, sums, a.object, a.offset};
  // Indexed only after the file is complete and in place: see BlockCache.h.
  st = index_->put(br.key, ie);
  if (!st.isOk()) return false;
  BlockRegistry::Block& b = registry_.at(pid);
  // The latest version seen may be another by now (a reader of another version).
  std::unique_ptr<std::string> ownEtag;
  if (b.etag != br.etag) ownEtag = std::make_unique<std::string>(br.etag);
  cached_.insert(pid, Entry(a.id, br.length, std::move(ownEtag), sums, a.object));
  space_.commit(a.alloc);
  if (prefetch) {
    policy_->onPrefetched(pid, br.length);
    // Unread unless a reader took it from the fetch (joined the flight) meanwhile.
    b.prefetchedUnread = b.lastReadSeq <= a.readSeq;
    PrefetchStats& p = prefetcher_.counters();
    p.prefetched++;
    p.prefetchedBytes += br.length;
    epochs_.current().prefetched++;
  } else if (br.unread || (br.countsAtEnd && !br.counts) ||
             (grain::shiftOf(b.blockNo) != 0 && (b.headRead || b.tailRead))) {
    // A grain filled for a read of part of it (a record that ends or begins in it), cut from
    // a block of cache.block_size, or a block of a file read in order filled before the
    // stream reached its end: cached, and not read yet (BlockRegistry::noteRead), as a
    // prefetched block is.
    policy_->onPrefetched(pid, br.length);
  } else {
    policy_->onInsert(pid, br.length);
  }
  meta_.noteInsert();
  return true;
}

std::string BlockCacheImpl::noteWriteLocked(const BlockRead& br, PolicyId pid, bool prefetch,
                                            const Status& failure) {
  if (failure.isOk()) {
    if (!writeBackoff_.onSuccess()) return {};
    return "cache: block writes work again after " +
           std::to_string(writeBackoff_.episodeFailures()) + " failures; prefetch resumes";
  }
  counters_.writeFailures++;
  // Not again in this epoch: a policy told onPrefetchAbandoned would name the block at once
  // again, and the next fetch of it would be as wasted as this one.
  if (prefetch) policy_->onPrefetchFailed(pid);
  const WriteBackoff::Failure f = writeBackoff_.onFailure(now_());
  const auto pauseMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(writeBackoff_.currentPause()).count();
  if (f == WriteBackoff::Failure::kEpisodeStarted) {
    // One line per episode, however many blocks fail in it: the cause is the same.
    return "cache: cannot cache block " + std::to_string(br.blockNo) + " of '" +
           std::string(br.fileKey) + "': " + failure.toString() +
           "; reads are served from the origin, prefetch pauses " + std::to_string(pauseMs) +
           " ms and backs off while writes fail (not logged again until a block is written; "
           "see cache.write_failures)";
  }
  if (f != WriteBackoff::Failure::kWhilePaused) {
    spdlog::debug("cache: block writes still fail ({}); prefetch pauses {} ms",
                  failure.toString(), pauseMs);
  }
  return {};
}

uint64_t BlockCacheImpl::dropLocked(PolicyId pid, Doomed& unlinkLater) {
  const Entry* e = cached_.find(pid);
  const BlockFileId id = e->file;
  const bool object = e->object;
  const uint64_t alloc = e->allocated();
  BlockRegistry::Block& b = registry_.at(pid);
  // Index first: if we crash before the unlink, recovery deletes the unreferenced file; the
  // other order would leave an entry whose file is gone (also recovered, but noisier).
  Status st = index_->erase(*b.key);
  if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
  cached_.erase(pid);
  space_.drop(alloc);
  policy_->onErase(pid);
  if (b.prefetchedUnread) {
    b.prefetchedUnread = false;
    prefetcher_.counters().unused++;
    epochs_.current().prefetchUnused++;
  }
  if (object) {
    leaveObjectLocked(id, b.blockNo, alloc, /*written=*/true, pid, unlinkLater);
  } else {
    unlinkLater.push_back({id, alloc});
  }
  return alloc;
}

std::optional<BlockFileId> BlockCacheImpl::takeObjectLocked(std::string_view fileKey,
                                                            const std::string& etag,
                                                            uint64_t blockNo) {
  auto [it, added] = objectOf_.try_emplace(objectVersion(fileKey, etag, blockNo));
  if (added) {
    it->second = BlockFileId{nextFileId_++};
    objects_[it->second].version = it->first;
  } else if (punching_.contains({it->second, blockNo})) {
    return std::nullopt;
  }
  objects_.at(it->second).blocks++;
  return it->second;
}

void BlockCacheImpl::leaveObjectLocked(BlockFileId id, uint64_t blockNo, uint64_t alloc,
                                       bool written, PolicyId pid, Doomed& unlinkLater) {
  auto o = objects_.find(id);
  assert(o != objects_.end() && o->second.blocks > 0);
  if (--o->second.blocks == 0) {
    // No block left in it, none being written: the file goes (a new fill of its version
    // starts a new one).
    objectOf_.erase(o->second.version);
    objects_.erase(o);
    unlinkLater.push_back({id, alloc});
    return;
  }
  if (!written) return;
  auto p = pinned_.find(id);
  if (p != pinned_.end()) {
    // The kernel reads this file: punching the range would show it zeros.
    p->second.deferred.insert({blockNo, pid});
    p->second.held += alloc;
    space_.unlinkedHeld(alloc);
    return;
  }
  punching_.insert({id, blockNo});
  unlinkLater.push_back({id, alloc, blockBytes(blockNo), fileOffset(true, blockNo), blockNo});
}

uint64_t BlockCacheImpl::evictLocked(PolicyId pid, Doomed& unlinkLater) {
  if (cached_.find(pid) == nullptr) {
    policy_->onErase(pid);  // the policy tracks a block we do not have: let it forget it
    return 0;
  }
  counters_.evictions++;
  return dropLocked(pid, unlinkLater);
}

bool BlockCacheImpl::dropIfSame(PolicyId pid, BlockFileId id) {
  Doomed unlinkLater;
  {
    std::lock_guard<std::mutex> g(mu_);
    const Entry* e = cached_.find(pid);
    if (e == nullptr || e->file != id) return false;
    dropLocked(pid, unlinkLater);
  }
  unlinkAll(unlinkLater);
  return true;
}

void BlockCacheImpl::unlinkAll(const Doomed& doomed) {
  if (doomed.empty()) return;
  for (const Doom& d : doomed) {
    Status st = d.punchLength == 0 ? store_->remove(d.id)
                                   : store_->punch(d.id, d.punchAt, d.punchLength);
    // Not fatal: the index no longer names the file or range, so the next open deletes it.
    if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
  }
  uint64_t bytes = 0;
  std::lock_guard<std::mutex> g(mu_);
  for (const Doom& d : doomed) {
    if (d.punchLength != 0) {
      punching_.erase({d.id, d.blockNo});
      bytes += d.alloc;
    } else if (!holdIfPinnedLocked(d.id, d.alloc)) {
      // A file handed out whole stays on disk while the kernel has it open: its space is
      // freed by the release of its last pin instead (BlockCacheWhole.cc).
      bytes += d.alloc;
    }
  }
  space_.unlinked(bytes);
}

}  // namespace epochfs::cache
