// fs/InodeTable.h: FUSE inode numbers <-> origin keys, with the kernel's lookup counts.
//
// The kernel refers to files by inode number; every reply that hands one out (lookup,
// readdirplus) counts one lookup, and forget() gives them back. An inode is dropped when its
// count reaches zero; numbers are never reused, so generation numbers stay 0. Inode 1 is the
// origin root; 2..15 are reserved for control files (ControlFiles.h).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "origin/Origin.h"

namespace epochfs::fs {

inline constexpr uint64_t kRootIno = 1;
inline constexpr uint64_t kFirstDynamicIno = 16;

struct Inode {
  uint64_t ino = 0;
  std::string key;          // origin key; "" for the root
  origin::ObjectInfo info;  // as last seen at the origin
};

// Thread-safe.
class InodeTable {
 public:
  explicit InodeTable(origin::ObjectInfo rootInfo);

  // The inode for `key`, created if needed, with `info` as its attributes; counts one kernel
  // lookup.
  Inode lookup(const std::string& key, const origin::ObjectInfo& info);
  // Gives back `n` kernel lookups of `ino`; drops the inode at zero (never the root).
  void forget(uint64_t ino, uint64_t n);
  std::optional<Inode> get(uint64_t ino) const;
  // Replaces the attributes of a live inode (after a revalidation at the origin).
  void update(uint64_t ino, const origin::ObjectInfo& info);
  size_t size() const;
  // The inode of `key`, if the kernel holds one.
  std::optional<uint64_t> inoOf(const std::string& key) const;
  // Every live inode (a copy; for revalidating them all after a refresh).
  std::vector<Inode> all() const;

 private:
  struct Entry {
    Inode inode;
    uint64_t lookups = 0;
  };
  mutable std::mutex mu_;  // guards all below
  std::unordered_map<uint64_t, Entry> byIno_;
  // Views of the keys in byIno_ (its nodes never move; an entry leaves both maps together),
  // so that a key is stored once.
  std::unordered_map<std::string_view, uint64_t> byKey_;
  uint64_t nextIno_ = kFirstDynamicIno;
};

}  // namespace epochfs::fs
