// cache/CachedBlocks.h: the blocks in the cache now: the in-memory copy of the index.
//
// One entry per cached block, under its policy id (BlockRegistry), with the file that holds
// it (BlockFileId: a block file, or an object file shared with the other blocks of its version,
// where it sits at blockNo * block_size), its length, its checksums and the version it caches. The cached
// version is usually the latest seen (BlockRegistry::Block::etag): then it is not stored
// twice and Entry::ownEtag is null; the cache gives an entry its own copy before the latest
// seen version changes (BlockCacheImpl::registerLocked).
//
// Not thread-safe: the cache calls it with its mutex held.
#pragma once

#include <cstdint>
#include <set>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>

#include "cache/BlockRegistry.h"
#include "cache/BlockStore.h"
#include "cache/Checksum.h"

namespace epochfs::cache {

class CachedBlocks {
 public:
  struct Entry {
    Entry() = default;
    Entry(BlockFileId fileId, uint32_t len, std::unique_ptr<std::string> etag,
          std::span<const uint64_t> checksums, bool inObject = false);
    BlockFileId file{};
    uint32_t length = 0;
    bool object = false;  // `file` is an object file (BlockStore.h)
    bool verified = false;  // verified in full at a hand-out (openWhole) since it was cached
    std::unique_ptr<std::string> ownEtag;  // the cached version if not the latest seen
    // The xxh3 of each kChecksumChunk of the block (chunkCount(length) of them): a block of
    // one chunk (every small file) holds its sum inline, a larger one all of them on the heap.
    uint64_t sum0 = 0;
    std::unique_ptr<uint64_t[]> sums;
    std::span<const uint64_t> checksums() const {
      return {sums ? sums.get() : &sum0, chunkCount(length)};
    }
    uint64_t allocated() const { return BlockStore::allocatedBytes(length); }
    // The version cached, given the latest one seen.
    const std::string& etag(const std::string& latestSeen) const {
      return ownEtag ? *ownEtag : latestSeen;
    }
  };

  // The entry of block `id`, or null.
  Entry* find(PolicyId id);
  const Entry* find(PolicyId id) const;
  // Adds block `id` in file `e.file`; `id` may not be cached already.
  void insert(PolicyId id, Entry e);
  // Removes block `id`, which must be cached.
  void erase(PolicyId id);
  // The cached block whose file is the oldest (ids grow with every fill), if any.
  std::optional<PolicyId> oldest() const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // The latest version seen of block `id` changes to `etag`: an entry caching the version
  // seen so far (`previous`) keeps its own copy of it; one caching `etag` shares it again.
  void onNewVersion(PolicyId id, std::string previous, const std::string& etag);

 private:
  std::unordered_map<PolicyId, Entry> entries_;
  std::set<std::pair<BlockFileId, PolicyId>> byFile_;  // ordered: oldest file first
};

}  // namespace epochfs::cache
