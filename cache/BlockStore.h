// cache/BlockStore.h: block files on the cache SSD.
//
// BlockCache keeps cached bytes in files named by a BlockFileId,
// <dir>/blocks/<2 hex: low byte of id>/<16 hex: id>, of two kinds:
//   - a block file holds one block at offset 0: written unnamed (O_TMPFILE) in its subdir and
//     linked under its name once complete (write(); where the filesystem has no O_TMPFILE,
//     written to <dir>/tmp/<id> and renamed), so it is always complete (its bytes may still be
//     lost by a power failure, which the checksums catch);
//   - an object file holds blocks of one version of one origin file, each at its own offset in
//     the file (blockNo * block_size), written in place (writeAt()) and evicted one by one by
//     punching its range out (punch()): a sparse file whose allocated bytes are the cached
//     blocks, which the kernel can read as the whole file (FUSE passthrough). Which ranges hold
//     a block only the index says; recovery punches out what it does not name (dataRanges()).
// Ids are never reused, so a path always means the same file for the life of the dir.
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

  // Writes block file `id` (unnamed file then link, or tmp file then rename). Errors:
  // kNoSpace, kIo, kPermissionDenied, kNotFound (a directory vanished); on error nothing is
  // left under blocks/ or tmp/.
  virtual Status write(BlockFileId id, std::span<const std::byte> bytes);
  // Writes `bytes` at `offset` of object file `id`, creating it if needed. Errors as write();
  // on error the range is punched out again, so nothing of it stays allocated (the file may
  // stay, for the caller to remove when no block is left in it).
  virtual Status writeAt(BlockFileId id, uint64_t offset, std::span<const std::byte> bytes);
  // Deallocates [offset, offset + length) of file `id`, keeping its size; a missing file is ok.
  Status punch(BlockFileId id, uint64_t offset, uint64_t length);
  // The allocated ranges of file `id` (SEEK_DATA/SEEK_HOLE), in order, as [start, end).
  struct Range {
    uint64_t start = 0;
    uint64_t end = 0;
  };
  Result<std::vector<Range>> dataRanges(BlockFileId id) const;
  // Whether the cache's filesystem punches holes (tried once at open): without it, evicting a
  // block from an object file would free nothing, so BlockCache gives every block a file.
  bool punchesHoles() const { return punchesHoles_; }
  // Whether write() makes block files unnamed and links them (O_TMPFILE works here).
  bool linksTmpfiles() const { return linksTmpfiles_; }
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
  // For a subclass: a store on `dir`, which open() has prepared already (and found to punch
  // holes or not, and to make unnamed files or not).
  BlockStore(std::string dir, bool punchesHoles, bool linksTmpfiles = false)
      : dir_(std::move(dir)), punchesHoles_(punchesHoles), linksTmpfiles_(linksTmpfiles) {}

 private:
  std::string subdirPath(BlockFileId id) const;
  std::string tmpPath(BlockFileId id) const;
  // write() through tmp/ and a rename.
  Status writeRenamed(BlockFileId id, std::span<const std::byte> bytes);

  std::string dir_;
  bool punchesHoles_ = false;
  bool linksTmpfiles_ = false;  // write() makes unnamed files and links them
  uint64_t tmpRemoved_ = 0;
};

}  // namespace epochfs::cache
