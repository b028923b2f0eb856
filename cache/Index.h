// cache/Index.h: the persistent block index (RocksDB) of a cache dir.
//
// BlockCache keeps its working copy of the index in memory and writes every change through to
// this Index, which is what survives a restart: recovery (BlockCache::open) walks it with
// forEach() and checks it against the block files. This is the only file that includes RocksDB;
// rocksdb::Status stops in Index.cc.
//
// Durability: writes go through RocksDB's WAL without fsync (WriteOptions::sync = false). A
// kill -9 keeps every completed write (it is in the OS page cache); a power loss may lose the
// last writes, which only forgets blocks (their files become orphans and are deleted at open),
// and may leave block files with lost or partial contents, which their checksums catch.
//
// Thread-safe (RocksDB is); BlockCache nevertheless serialises put/erase under its mutex so that
// the order of index updates for one key matches the order of its in-memory changes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Status.h"

namespace epochfs::cache {

// What the index knows about one cached block.
struct IndexEntry {
  uint64_t blockId = 0;             // names the file (BlockStore) that holds the block
  uint32_t length = 0;              // bytes in the block (a block file's exact size)
  std::string etag;                 // origin etag of the file version the block came from
  std::vector<uint64_t> checksums;  // one per kChecksumChunk (Checksum.h)
  bool object = false;              // in an object file (BlockStore.h), at `offset`
  uint64_t offset = 0;              // where the block starts in its file (0 in a block file)

  bool operator==(const IndexEntry&) const = default;
};

// The index key of block `blockNo` of origin file `originKey`: the key, a '\0' (never part of
// an origin key) and the block number as 8 big-endian bytes, so a file's blocks sort together
// and in order.
std::string blockKey(std::string_view originKey, uint64_t blockNo);
// The parts of a blockKey() (views into `key`); nullopt for a key blockKey() cannot have made.
struct BlockKeyParts {
  std::string_view fileKey;
  uint64_t blockNo = 0;
};
std::optional<BlockKeyParts> parseBlockKey(std::string_view key);

// The serialized form of an entry (versioned, little-endian); decodeEntry() returns kCorrupt for
// anything encodeEntry() did not produce.
std::string encodeEntry(const IndexEntry& entry);
Result<IndexEntry> decodeEntry(std::string_view bytes);

class Index {
 public:
  // Opens (creating if missing) the RocksDB at `dir`, tuned to stay small: 256 KiB memtable,
  // WAL capped, info log at WARN in one small file, no preallocation. The dir is 0700.
  // Errors, naming `dir` and RocksDB's reason: kCorrupt for damage (a corrupt file, or a file
  // the index names missing: a MANIFEST, the one in CURRENT), which only a new index cures;
  // kIo and others for trouble of the disk.
  static Result<std::unique_ptr<Index>> open(const std::string& dir);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  Status put(std::string_view key, const IndexEntry& entry);
  // kNotFound if there is no entry; kCorrupt if it does not decode.
  Result<IndexEntry> get(std::string_view key) const;
  // Erasing a missing key is ok.
  Status erase(std::string_view key);
  // Calls `fn` for every entry in key order; entries that do not decode are passed as a
  // kCorrupt Result so that the caller can erase them. Do not modify the index from `fn`.
  Status forEach(const std::function<void(std::string_view key, Result<IndexEntry> entry)>& fn)
      const;

  // The namespace snapshot (fs/Namespace): opaque records in their own column family.
  // replaceNamespace() replaces them all in one write, so that a crash leaves either the old
  // snapshot or the new one; updateNamespace() puts (a value) or erases (nullopt) some, also in
  // one write.
  Status replaceNamespace(const std::vector<std::pair<std::string, std::string>>& records);
  Status updateNamespace(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& changes);
  // kNotFound if there is no record under `key`.
  Result<std::string> getNamespace(std::string_view key) const;
  // Calls `fn` for every record whose key starts with `prefix`, in key order; `fn` returns
  // false to stop.
  Status scanNamespace(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

  // Bytes the index dir occupies on disk (allocated size of its files, plus the dir itself).
  // A readdir and one stat per file: cheap, a dozen files or so.
  uint64_t diskBytes() const;

  const std::string& dir() const { return dir_; }

 private:
  struct Impl;
  Index(std::string dir, std::unique_ptr<Impl> impl);

  std::string dir_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace epochfs::cache
