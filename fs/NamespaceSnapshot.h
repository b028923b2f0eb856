// fs/NamespaceSnapshot.h: the immutable namespace (metadata.ttl: immutable) kept in the cache's
// index, one record per file or directory, and read from there on every stat and list.
//
// Nothing of the tree is held in memory: a stat is one point lookup in RocksDB (its block cache
// and the OS page cache keep the hot part of it in RAM), a list one prefix scan. So the
// daemon's memory does not grow with the number of files in the dataset.
//
// Records (in the index's namespace column family, NamespaceStore::saveNamespace):
//   "m"                               format, source, listed-at, directory and entry counts,
//                                     the root directory's info
//   "e" <dir key> '\0' <name>         type, size, mtime, etag, mode, uid, gid of one entry
//                                     of <dir key>
// Origin keys never contain '\0', so a directory's entries sort together and by name, and no
// other directory's entries fall within its prefix. A snapshot of another format (an older
// epochfs, or no snapshot) or of another source is ignored: the origin is listed again.
//
// Thread-safe (the index is).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cache/NamespaceStore.h"
#include "common/Status.h"
#include "origin/Origin.h"

namespace epochfs::fs {

class NamespaceSnapshot {
 public:
  NamespaceSnapshot(cache::NamespaceStore& store, std::string source)
      : store_(store), source_(std::move(source)) {}

  // Reads the snapshot's meta record: true if a snapshot of this source in this format is
  // there (its records are then what stat and list answer from).
  bool load();
  // Replaces the whole snapshot, atomically, with `root` (Origin::stat("")) and `tree`
  // (Origin::listRecursive(""): every file and directory below the root).
  Status replace(const origin::ObjectInfo& root, const std::vector<origin::TreeEntry>& tree,
                 int64_t listedAtSec);

  // The root directory, as of the listing (after load() or replace()).
  origin::ObjectInfo root() const;

  // An entry below the root (`key` not empty). kNotFound if absent; kCorrupt if its record
  // does not decode.
  Result<origin::ObjectInfo> stat(std::string_view key) const;
  // The entries of directory `key`, sorted by name. kNotFound if `key` is not a directory of
  // the snapshot.
  Result<std::vector<origin::DirEntry>> list(std::string_view key) const;
  // Adds or updates one entry (its directory must be in the snapshot), or erases it (nullptr).
  Status update(std::string_view key, const origin::ObjectInfo* info);

  uint64_t directories() const { return directories_.load(); }  // the root included
  uint64_t entries() const { return entries_.load(); }
  int64_t listedAtSec() const { return listedAtSec_.load(); }

 private:
  std::string metaRecord() const;

  cache::NamespaceStore& store_;
  const std::string source_;
  std::mutex updateMu_;  // one update() at a time: each reads, then writes, the counts
  std::atomic<uint64_t> directories_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<int64_t> listedAtSec_{0};
  mutable std::mutex rootMu_;  // guards root_; take after updateMu_
  origin::ObjectInfo root_;
};

// The index key of the entry `name` of directory `dir`.
std::string snapshotKey(std::string_view dir, std::string_view name);

}  // namespace epochfs::fs
