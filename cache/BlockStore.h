// cache/BlockStore.h: block files on the cache SSD.
//
// BlockCache names each cached block by a BlockFileId and keeps its bytes in one file,
// <dir>/blocks/<2 hex: low byte of id>/<16 hex: id>. A block is written to <dir>/tmp/<id> and
// renamed into blocks/, so a file under blocks/ is always complete (its bytes may still be lost
// by a power failure, which the checksums catch). Ids are never reused, so a path always means
// the same block for the life of the dir.
//
// No fsync: see Index.h for the durability argument. Files are opened per read; the page cache
// and the dentry cache make that cheap next to the read itself.
//
// Thread-safe: distinct ids touch distinct files, and concurrent remove/pread of one id give
// either the bytes or kNotFound.
//
// write() is virtual so that a test can make block writes fail (cache/tests/FaultyBlockStore.h)
// without permission tricks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/Status.h"

namespace epochfs::cache {

// The name of one block file: a new one for every fill, never reused in a cache dir. A type of
// its own, so that it cannot be mixed up with a policy id (policy::BlockId, which names a block
// of a file for the life of the mount, cached or not).
enum class BlockFileId : uint64_t {};
inline constexpr uint64_t toU64(BlockFileId id) { return static_cast<uint64_t>(id); }

class BlockStore {
 public:
  // Creates <dir>/blocks and <dir>/tmp if needed (0700; block files are 0600, whatever the
  // umask) and empties tmp/ (blocks whose write was cut
  // short by a crash). Errors: kIo/kPermissionDenied naming the path.
  static Result<std::unique_ptr<BlockStore>> open(const std::string& dir);
  virtual ~BlockStore() = default;

  // Writes block `id` (tmp file, then rename). Errors: kNoSpace, kIo, kPermissionDenied,
  // kNotFound (a directory vanished); on error nothing is left under blocks/ or tmp/.
  virtual Status write(BlockFileId id, std::span<const std::byte> bytes);
  // Reads up to out.size() bytes of block `id` at `offset`; short only at the end of the file.
  // kNotFound if the block file does not exist. `readAheadTo` beyond the end of the read asks
  // the kernel to start reading the file up to there (POSIX_FADV_WILLNEED) once the read is
  // done: every pread opens the file anew, so the kernel's own sequential read-ahead never
  // sees a stream and a sequential reader would otherwise wait for the SSD on every request.
  Result<size_t> pread(BlockFileId id, uint64_t offset, std::span<std::byte> out,
                       uint64_t readAheadTo = 0) const;
  // Opens block `id` read-only (O_CLOEXEC) for a caller that reads it itself and closes it
  // (BlockCache::openWhole). kNotFound if the block file does not exist; errors name the path.
  Result<int> openRead(BlockFileId id) const;
  // Removes block `id`; removing a missing block is ok.
  Status remove(BlockFileId id);

  struct FileInfo {
    BlockFileId id{};
    uint64_t size = 0;
  };
  // Every block file under blocks/ with its size (for recovery). Files whose names are not a
  // block file name are deleted (nothing else is ever written there).
  Result<std::vector<FileInfo>> list();

  // Bytes a block file of `length` bytes occupies on disk: rounded up to 4 KiB, the block size
  // of ext4/xfs. What BlockCache accounts for each block.
  static uint64_t allocatedBytes(uint64_t length) { return (length + 4095) / 4096 * 4096; }

  // Bytes the store's directories occupy on disk (<dir> itself, blocks/, its subdirectories,
  // tmp/): 258 stats at most. Their growth is part of the cache's disk usage.
  uint64_t directoryBytes() const;

  // Number of files found in tmp/ and deleted by open().
  uint64_t tmpFilesRemoved() const { return tmpRemoved_; }

  std::string blockPath(BlockFileId id) const;

 protected:
  // For a subclass: a store on `dir`, which open() has prepared already.
  explicit BlockStore(std::string dir) : dir_(std::move(dir)) {}

 private:
  std::string subdirPath(BlockFileId id) const;
  std::string tmpPath(BlockFileId id) const;

  std::string dir_;
  uint64_t tmpRemoved_ = 0;
};

}  // namespace epochfs::cache
