// cache/SpaceAccount.h: the cache's disk space, and the one formula that says whether a block
// fits.
//
// Everything is counted in allocated bytes (BlockStore::allocatedBytes):
//   cached     blocks in the cache
//   reserved   blocks being written right now (taken before the write, so that concurrent
//              fills cannot overshoot together)
//   unlinking  blocks dropped from the index whose files are not unlinked yet
//   held       blocks dropped and unlinked while handed out whole (BlockCache::openWhole):
//              the kernel keeps an unlinked file that is open, so its space stays taken
//              until the last hand-out of it is released
//   meta       index dir + store directories + LOCK + anything else in the dir, as last
//              measured (MetaMeter)
//   reserve    metadataReserve(cache.size): headroom for what the metadata may grow by between
//              two measurements
// A block of `alloc` bytes fits when cached + reserved + unlinking + held + meta + reserve +
// alloc <= cache.size and the filesystem keeps cache.min_free + reserve free (`avail`, from
// statvfs, minus what is reserved and not yet written). room() (prefetch), plan() (admission) and
// overLimit() (recovery) all answer from that one formula (headroom()).
//
// Not thread-safe: the cache calls it with its mutex held (as it calls its Policy).
#pragma once

#include <cstdint>
#include <optional>

namespace epochfs::cache {

// Headroom kept for metadata growth between measurements: 1% of cache.size, at least 1 MiB
// (a memtable flush plus a few new directories) and at most 64 MiB.
uint64_t metadataReserve(uint64_t cacheSizeBytes);

class SpaceAccount {
 public:
  // `limit`: cache.size; `minFree`: cache.min_free; `blockSize`: cache.block_size (less room
  // than one block is no room for prefetch).
  SpaceAccount(uint64_t limit, uint64_t minFree, uint64_t blockSize);

  // What a fill of `alloc` bytes needs: whether it can fit at all (possible), and how many
  // bytes must be evicted first (toFree, 0 when it fits now). Impossible when the metadata
  // alone leave no room for it, or the filesystem is so full that evicting every cached block
  // would not make it fit.
  struct Plan {
    bool possible = false;
    uint64_t toFree = 0;
  };
  Plan plan(uint64_t alloc, std::optional<uint64_t> avail) const;
  // Room for new blocks without evicting anything; 0 when less than a block.
  uint64_t room(std::optional<uint64_t> avail) const;
  // Bytes to evict to get back under cache.size (0 if under it): recovery after cache.size was
  // lowered, before anything is reserved or unlinking.
  uint64_t overLimit() const;

  // A block of `alloc` bytes found on disk at open.
  void addRecovered(uint64_t alloc) { cached_ += alloc; }
  // A fill was admitted: `alloc` bytes are held until commit() or release().
  void reserve(uint64_t alloc) { reserved_ += alloc; }
  // The admitted block was written and indexed: it is cached now.
  void commit(uint64_t alloc);
  // The admitted block was not cached (a failed fetch or write); if its file exists, the
  // caller queues it for unlinking (unlinking()).
  void release(uint64_t alloc);
  // A cached block left the index; its file is about to be unlinked.
  void drop(uint64_t alloc);
  // A written file not indexed (its fill failed after the write) is about to be unlinked.
  void unlinking(uint64_t alloc) { unlinking_ += alloc; }
  // Files of these many allocated bytes were unlinked.
  void unlinked(uint64_t alloc);
  // A file being unlinked (drop()) was unlinked while handed out: its `alloc` bytes stay on
  // disk, held, until releasedHeld().
  void unlinkedHeld(uint64_t alloc);
  // The last hand-out of a held file ended: its `alloc` bytes are free.
  void releasedHeld(uint64_t alloc);
  // The metadata as measured now.
  void setMeta(uint64_t bytes) { meta_ = bytes; }

  uint64_t cached() const { return cached_; }
  uint64_t reserved() const { return reserved_; }
  uint64_t unlinkingBytes() const { return unlinking_; }
  uint64_t heldBytes() const { return held_; }
  uint64_t meta() const { return meta_; }
  uint64_t metaReserve() const { return reserve_; }
  // Disk space used now: cached blocks + held files + metadata (what stats call usedBytes).
  uint64_t usedBytes() const { return cached_ + held_ + meta_; }

 private:
  // The formula: bytes that may still be added before the cache passes cache.size (limit), and
  // before the filesystem keeps less than cache.min_free + the reserve free (disk; nullopt
  // when statvfs did not answer). Negative when past it already.
  struct Headroom {
    int64_t limit = 0;
    std::optional<int64_t> disk;
  };
  Headroom headroom(std::optional<uint64_t> avail) const;

  const uint64_t limit_;
  const uint64_t minFree_;
  const uint64_t blockSize_;
  const uint64_t reserve_;
  uint64_t cached_ = 0;
  uint64_t reserved_ = 0;
  uint64_t unlinking_ = 0;
  uint64_t held_ = 0;
  uint64_t meta_ = 0;
};

}  // namespace epochfs::cache
