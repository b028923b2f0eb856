// BlockCache::open(): validate, lock the dir, open store and index, recover.
#include "cache/BlockCache.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"

namespace epochfs::cache {

Result<std::unique_ptr<BlockCache>> BlockCache::open(const config::CacheOptions& opts,
                                                     origin::Origin& origin,
                                                     std::unique_ptr<policy::Policy> policy) {
  return openBlockCache(opts, origin, std::move(policy), &BlockStore::open);
}

Result<std::unique_ptr<BlockCache>> openBlockCache(const config::CacheOptions& opts,
                                                   origin::Origin& origin,
                                                   std::unique_ptr<policy::Policy> policy,
                                                   const StoreOpener& openStore) {
  if (opts.dir.empty()) return invalid("cache.dir is empty");
  if (opts.blockSizeBytes == 0 || opts.blockSizeBytes > std::numeric_limits<uint32_t>::max()) {
    return invalid("cache.block_size " + std::to_string(opts.blockSizeBytes) +
                   " is out of range");
  }
  if (!policy) return invalid("no cache policy");
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) return errnoStatus(ec.value(), "create cache dir " + opts.dir);
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
  if (!index.isOk() && index.status().code() == Code::kCorrupt) {
    // It is only a cache: start over rather than refuse to mount. The block files go too (the
    // index was their only description); recovery then finds them unreferenced.
    spdlog::error("cache {}: index is corrupt, starting with an empty cache: {}", opts.dir,
                  index.status().toString());
    std::filesystem::remove_all(opts.dir + "/index", ec);
    if (ec) return errnoStatus(ec.value(), "remove corrupt index " + opts.dir + "/index");
    index = Index::open(opts.dir + "/index");
  }
  if (!index.isOk()) return index.status();

  auto cache = std::make_unique<BlockCacheImpl>(opts, origin, std::move(policy),
                                                std::move(*lock), std::move(*store),
                                                std::move(*index));
  EPOCHFS_RETURN_IF_ERROR(cache->recover());
  return std::unique_ptr<BlockCache>(std::move(cache));
}

Status BlockCacheImpl::recover() {
  std::unique_lock<std::mutex> g(mu_);  // uncontended; keeps the *Locked helpers honest
  uint64_t orphans = store_->tmpFilesRemoved();

  std::vector<std::pair<std::string, IndexEntry>> loaded;
  std::vector<std::string> badKeys;
  EPOCHFS_RETURN_IF_ERROR(index_->forEach([&](std::string_view key, Result<IndexEntry> e) {
    if (e.isOk()) {
      loaded.emplace_back(std::string(key), std::move(*e));
    } else {
      badKeys.emplace_back(key);
    }
  }));

  Result<std::vector<BlockStore::FileInfo>> files = store_->list();
  if (!files.isOk()) return files.status();
  std::unordered_map<BlockId, uint64_t> sizes;
  BlockId maxId = 0;
  for (const auto& f : *files) {
    sizes.emplace(f.id, f.size);
    maxId = std::max(maxId, f.id);
  }

  // Ids grow with every fill, so id order is insertion order: the policy sees the blocks in
  // the order they were first cached, which for LRU makes the oldest fill the first victim.
  std::sort(loaded.begin(), loaded.end(),
            [](const auto& a, const auto& b) { return a.second.blockId < b.second.blockId; });
  std::unordered_set<BlockId> used;
  for (auto& [key, e] : loaded) {
    maxId = std::max(maxId, e.blockId);
    auto f = sizes.find(e.blockId);
    bool valid = f != sizes.end() && f->second == e.length && e.length > 0 &&
                 e.checksums.size() == chunkCount(e.length) && !used.contains(e.blockId);
    if (!valid) {
      badKeys.push_back(key);
      continue;
    }
    used.insert(e.blockId);
    const uint64_t alloc = BlockStore::allocatedBytes(e.length);
    allocated_ += alloc;
    // Registers the block (its key is held in pids_ only) with e.etag as the latest version
    // seen, which the entry then shares.
    const PolicyId pid = policyIdLocked(key, e.etag, e.length);
    pidsById_.emplace(e.blockId, pid);
    policy_->onInsert(pid, e.length);
    entries_.emplace(pid, Entry(e.blockId, e.length, nullptr, e.checksums));
  }
  for (const std::string& key : badKeys) {
    EPOCHFS_RETURN_IF_ERROR(index_->erase(key));
    ++orphans;
  }
  for (const auto& f : *files) {
    if (used.contains(f.id)) continue;
    EPOCHFS_RETURN_IF_ERROR(store_->remove(f.id));
    ++orphans;
  }
  nextId_ = maxId + 1;
  recoveredBlocks_ = entries_.size();
  orphansRemoved_ = orphans;

  // cache.size may have been lowered since the last run: evict down to it now.
  metaBytes_ = measureMetaBytes();
  Doomed unlinkLater;
  uint64_t evicted = 0;
  while (!entries_.empty() && allocated_ + metaBytes_ + reserve_ > opts_.sizeBytes) {
    std::optional<BlockId> victim = policy_->pickVictim();
    // A policy that never evicts (fixed) still must not break the hard limit: oldest first.
    uint64_t freed = victim ? evictLocked(*victim, unlinkLater) : 0;
    if (freed == 0) {
      auto oldest = entries_.find(pidsById_.begin()->second);
      evictions_++;
      dropLocked(oldest, unlinkLater);
    }
    ++evicted;
  }
  g.unlock();  // unlinkAll takes mu_ itself
  unlinkAll(unlinkLater);
  if (orphans > 0 || evicted > 0) {
    spdlog::info("cache {}: recovered {} blocks, removed {} orphans, evicted {} over cache.size",
                 opts_.dir, recoveredBlocks_.load(), orphans, evicted);
  }
  return Status::ok();
}

}  // namespace epochfs::cache
