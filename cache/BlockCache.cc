// BlockCache::open(): validate, lock the dir, open store and index, recover.
#include "cache/BlockCache.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"
#include "cache/IndexReset.h"

namespace epochfs::cache {

// Sets the damaged index of `dir` aside, saying so once, with the path and the cause.
Status resetIndex(const std::string& dir, const Status& cause) {
  Result<std::string> moved = setAsideIndex(dir);
  if (!moved.isOk()) return moved.status();
  spdlog::error("cache {}: the index is damaged ({}); set aside as {}, starting with an empty "
                "cache (its block files are removed)",
                dir, cause.toString(), *moved);
  return Status::ok();
}

Result<std::unique_ptr<BlockCache>> BlockCache::open(const config::CacheOptions& opts,
                                                     origin::Origin& origin,
                                                     std::unique_ptr<policy::Policy> policy,
                                                     std::unique_ptr<Executor> executor) {
  return openBlockCache(opts, origin, std::move(policy), &BlockStore::open, std::move(executor));
}

Result<std::unique_ptr<BlockCache>> openBlockCache(const config::CacheOptions& opts,
                                                   origin::Origin& origin,
                                                   std::unique_ptr<policy::Policy> policy,
                                                   const StoreOpener& openStore,
                                                   std::unique_ptr<Executor> executor,
                                                   SteadyNow now) {
  if (opts.dir.empty()) return invalid("cache.dir is empty");
  if (opts.blockSizeBytes == 0 || opts.blockSizeBytes > std::numeric_limits<uint32_t>::max()) {
    return invalid("cache.block_size " + std::to_string(opts.blockSizeBytes) +
                   " is out of range");
  }
  if (!policy) return invalid("no cache policy");
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) return errnoStatus(ec.value(), "create cache dir " + opts.dir);
  // A min_free at or above the filesystem's size would silently cache nothing, ever.
  if (struct statvfs vfs {}; ::statvfs(opts.dir.c_str(), &vfs) == 0) {
    const uint64_t total = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    if (opts.minFreeBytes >= total) {
      return invalid("cache.min_free (--min-free) of " + std::to_string(opts.minFreeBytes) +
                     " bytes is not below the size of the filesystem of cache dir " + opts.dir +
                     " (" + std::to_string(total) + " bytes): nothing could ever be cached");
    }
  }
  // The cache holds the dataset's bytes: only our user may enter, whatever the umask or the
  // modes of the origin's files (a 0600 origin file must not become readable in the cache).
  // This alone denies access to everything below, including files RocksDB creates.
  if (::chmod(opts.dir.c_str(), 0700) != 0) {
    return errnoStatus(errno, "chmod 0700 cache dir " + opts.dir);
  }

  Result<CacheDirLock> lock = CacheDirLock::acquire(opts.dir);
  if (!lock.isOk()) return lock.status();
  Result<std::unique_ptr<BlockStore>> store = openStore(opts.dir);
  if (!store.isOk()) return store.status();
  Result<std::unique_ptr<Index>> index = Index::open(opts.dir + "/index");
  bool reset = false;
  if (!index.isOk() && isIndexDamage(index.status())) {
    // It is only a cache: start over rather than refuse to mount (IndexReset.h).
    EPOCHFS_RETURN_IF_ERROR(resetIndex(opts.dir, index.status()));
    index = Index::open(opts.dir + "/index");
    reset = true;
  }
  if (!index.isOk()) return index.status();

  auto cache = std::make_unique<BlockCacheImpl>(
      opts, origin, std::move(policy), std::move(*lock), std::move(*store), std::move(*index),
      executor ? std::move(executor) : makeThreadExecutor(), std::move(now));
  EPOCHFS_RETURN_IF_ERROR(cache->recover(reset));
  return std::unique_ptr<BlockCache>(std::move(cache));
}

Status BlockCacheImpl::recover(bool indexWasReset) {
  std::unique_lock<std::mutex> g(mu_);  // uncontended; keeps the *Locked helpers honest
  uint64_t orphans = store_->tmpFilesRemoved();
  if (indexWasReset) counters_.indexResets++;

  Loaded loaded;
  EPOCHFS_RETURN_IF_ERROR(loadIndexLocked(indexWasReset, loaded));
  Result<std::vector<BlockStore::FileInfo>> files = store_->list();
  if (!files.isOk()) return files.status();
  std::unordered_set<BlockFileId> used;
  const uint64_t maxId = adoptLocked(loaded, *files, used);
  for (const std::string& key : loaded.badKeys) {
    EPOCHFS_RETURN_IF_ERROR(index_->erase(key));
    ++orphans;
  }
  for (const auto& f : *files) {
    if (used.contains(f.id)) continue;
    EPOCHFS_RETURN_IF_ERROR(store_->remove(f.id));
    ++orphans;
  }
  orphans += punchUnindexedLocked();
  nextFileId_ = maxId + 1;
  counters_.recoveredBlocks = cached_.size();
  counters_.orphansRemoved = orphans;

  // cache.size may have been lowered since the last run: evict down to it now.
  space_.setMeta(meta_.measure());
  Doomed unlinkLater;
  const uint64_t evicted = evictOverLimitLocked(unlinkLater);
  g.unlock();  // unlinkAll takes mu_ itself
  unlinkAll(unlinkLater);
  if (orphans > 0 || evicted > 0) {
    spdlog::info("cache {}: recovered {} blocks, removed {} orphans, evicted {} over cache.size",
                 opts_.dir, counters_.recoveredBlocks.load(), orphans, evicted);
  }
  return Status::ok();
}

Status BlockCacheImpl::loadIndexLocked(bool indexWasReset, Loaded& loaded) {
  Status scan = index_->forEach([&](std::string_view key, Result<IndexEntry> e) {
    const std::optional<BlockKeyParts> parts = parseBlockKey(key);
    if (e.isOk() && parts && grain::valid(parts->blockNo)) {
      loaded.entries.emplace_back(std::string(key), std::move(*e));
    } else {
      loaded.badKeys.emplace_back(key);
    }
  });
  if (!scan.isOk() && isIndexDamage(scan) && !indexWasReset) {
    // Damage that only a full read finds (a flipped byte in an SST): as at open. Nothing has
    // been taken from the index yet; every block file is now an orphan.
    loaded = Loaded{};
    index_.reset();  // closes RocksDB before its dir is renamed
    EPOCHFS_RETURN_IF_ERROR(resetIndex(opts_.dir, scan));
    Result<std::unique_ptr<Index>> fresh = Index::open(opts_.dir + "/index");
    if (!fresh.isOk()) return fresh.status();
    index_ = std::move(*fresh);
    counters_.indexResets++;
    scan = Status::ok();
  }
  return scan;
}

uint64_t BlockCacheImpl::adoptLocked(Loaded& loaded,
                                     const std::vector<BlockStore::FileInfo>& files,
                                     std::unordered_set<BlockFileId>& used) {
  std::unordered_map<BlockFileId, uint64_t> sizes;
  uint64_t maxId = 0;
  for (const auto& f : files) {
    sizes.emplace(f.id, f.size);
    maxId = std::max(maxId, toU64(f.id));
  }
  // Ids grow with every fill, so id order is insertion order: the policy sees the blocks in
  // the order they were first cached, which for LRU makes the oldest fill the first victim.
  std::sort(loaded.entries.begin(), loaded.entries.end(),
            [](const auto& a, const auto& b) { return a.second.blockId < b.second.blockId; });
  for (auto& [key, e] : loaded.entries) {
    maxId = std::max(maxId, e.blockId);
    const BlockFileId id{e.blockId};
    const BlockKeyParts parts = *parseBlockKey(key);  // loadIndexLocked checked it
    auto f = sizes.find(id);
    bool valid = f != sizes.end() && e.length > 0 && e.checksums.size() == chunkCount(e.length);
    std::string version;
    if (valid && e.object) {
      // In its version's object file, at its block's offset (the block size may have
      // changed since), on a filesystem that can punch it out again.
      version = objectVersion(parts.fileKey, e.etag, parts.blockNo);
      auto o = objects_.find(id);
      valid = store_->punchesHoles() && e.offset == fileOffset(true, parts.blockNo) &&
              f->second >= e.offset + e.length &&
              (o != objects_.end() ? o->second.version == version : !used.contains(id));
    } else if (valid) {
      valid = e.offset == 0 && f->second == e.length && !used.contains(id);
    }
    if (!valid) {
      loaded.badKeys.push_back(key);
      continue;
    }
    used.insert(id);
    // A block cut at a grain: its file is read at random (found by an earlier mount).
    grains_.set(parts.fileKey, grain::shiftOf(parts.blockNo));
    if (e.object) {
      ObjectFile& o = objects_[id];
      o.blocks++;
      objectSlots_[id].push_back(parts.blockNo);
      if (o.blocks == 1) {
        o.version = version;
        objectOf_.try_emplace(std::move(version), id);
      }
    }
    space_.addRecovered(BlockStore::allocatedBytes(e.length));
    // Registers the block with e.etag as the latest version seen, which the entry then shares.
    const PolicyId pid = registry_.addByKey(key, e.etag, e.length).id;
    policy_->onInsert(pid, e.length);
    cached_.insert(pid, Entry(id, e.length, nullptr, e.checksums, e.object));
  }
  return maxId;
}

uint64_t BlockCacheImpl::punchUnindexedLocked() {
  uint64_t punched = 0;
  for (auto& [id, slots] : objectSlots_) {
    // The blocks of one object file share their grain (objectVersion).
    const unsigned shift = slots.empty() ? 0 : grain::shiftOf(slots.front());
    const uint64_t bs = blockBytes(grain::make(shift, 0));
    Result<std::vector<BlockStore::Range>> ranges = store_->dataRanges(id);
    if (!ranges.isOk()) {
      // Its blocks are still checked at every read; only space may stay taken.
      spdlog::warn("cache: {}", ranges.status().toString());
      continue;
    }
    std::sort(slots.begin(), slots.end());
    for (const BlockStore::Range& r : *ranges) {
      // Every block slot the range touches that the index does not name: a fill cut short by
      // a crash after its write, or a punch that never happened.
      for (uint64_t b = r.start / bs; b * bs < r.end; ++b) {
        if (std::binary_search(slots.begin(), slots.end(), grain::make(shift, b))) continue;
        // The whole slot: a punch of part of a page only zeroes it.
        Status st = store_->punch(id, b * bs, bs);
        if (!st.isOk()) spdlog::warn("cache: {}", st.toString());
        ++punched;
      }
    }
  }
  objectSlots_.clear();
  return punched;
}

uint64_t BlockCacheImpl::evictOverLimitLocked(Doomed& unlinkLater) {
  uint64_t evicted = 0;
  const uint64_t toFree = space_.overLimit();
  uint64_t freed = 0;
  while (!cached_.empty() && freed < toFree) {
    std::optional<PolicyId> victim = policy_->pickVictim();
    uint64_t bytes = victim ? evictLocked(*victim, unlinkLater) : 0;
    if (bytes == 0) {
      // A policy that never evicts (fixed) still must not break the hard limit: oldest first.
      counters_.evictions++;
      bytes = dropLocked(*cached_.oldest(), unlinkLater);
    }
    freed += bytes;
    ++evicted;
  }
  return evicted;
}

}  // namespace epochfs::cache
