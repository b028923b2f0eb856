// cache/BlockRegistry.h: every block the cache has seen, under its stable policy id.
//
// A block (block `blockNo` of an origin file) is registered the first time it is read, planned,
// discovered or found on disk, and keeps its id for the life of the cache: the policy only
// ever sees these ids (policy::BlockId). Ids are dense, from 1, and never removed, so a
// block's state is a vector slot and its index key is held once (as the key of the lookup
// map; Block::key points at it).
//
// Each block carries what the cache needs to know about it whether or not it is cached: the
// latest version seen, its length, where it lives (file key and block number, so that no one
// rebuilds them from the key's bytes), the prefetch flags, and the repeat filter's last read
// (noteRead()).
//
// Not thread-safe: the cache calls it with its mutex held.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/Policy.h"

namespace epochfs::cache {

using PolicyId = policy::BlockId;

class BlockRegistry {
 public:
  struct Block {
    const std::string* key = nullptr;  // blockKey(file key, blockNo): the key in the map
    std::string etag;                  // the latest version seen
    uint64_t blockNo = 0;
    uint64_t lastReadSeq = 0;          // readSeq() at its last read, 0 = none
    uint32_t length = 0;               // bytes in the block
    uint32_t lastInOffset = 0;         // where in the block its last read started
    uint32_t fileKeyLength = 0;        // the file key is key->substr(0, fileKeyLength)
    bool prefetchedUnread = false;     // prefetched and not read since
    bool prefetchFailed = false;       // the origin refused this version: do not prefetch it
    bool headRead = false;             // of a grain: its first byte read since it last was read
    bool tailRead = false;             // (noteRead), and its last byte

    std::string_view fileKey() const { return std::string_view(*key).substr(0, fileKeyLength); }
  };

  // What add() did: the block's id, whether it is new, and, when `etag` is a version
  // other than the one seen before, that one (moved out), so that a cached entry of the older
  // version can keep its own copy.
  struct Registration {
    PolicyId id = 0;
    bool added = false;
    std::optional<std::string> replacedEtag;
  };
  // Registers block `blockNo` of `fileKey` (or finds it), whose index key `key` the caller has
  // made already (blockKey(fileKey, blockNo)), with `etag` as the latest version seen and
  // `length` as its length. A new version clears prefetchFailed.
  Registration add(const std::string& key, std::string_view fileKey, uint64_t blockNo,
                   const std::string& etag, uint32_t length);
  // As add() for a block known by its index key (recovery), which must be a blockKey().
  Registration addByKey(const std::string& key, const std::string& etag, uint32_t length);

  // The id of the block of index key `key`, if registered.
  std::optional<PolicyId> find(const std::string& key) const {
    auto it = ids_.find(key);
    return it == ids_.end() ? std::nullopt : std::optional<PolicyId>(it->second);
  }
  bool contains(PolicyId id) const { return id != 0 && id <= blocks_.size(); }
  Block& at(PolicyId id) { return blocks_[id - 1]; }
  const Block& at(PolicyId id) const { return blocks_[id - 1]; }
  size_t size() const { return blocks_.size(); }

  // The repeat filter: a read of block `id` starting `inOffset` bytes into it. Returns false
  // for a repeat, which the policy and the epoch clock do not count as a read (see the .cc);
  // true for a new read. Either way the read clears prefetchedUnread. A block of a grain
  // (Grain.h: a file read at random, record by record) is read once both its first and its
  // last byte have been read since it last was (by one read, or by the records that end and
  // begin in it, in any order, or by the page-sized reads of one record through mmap), so that
  // it is a victim only once all of it was used, and counts once per epoch. `length`: the
  // bytes read from it.
  bool noteRead(PolicyId id, uint64_t inOffset, uint64_t length = 0);
  // Reads noted so far (the sequence number of the last one).
  uint64_t readSeq() const { return readSeq_; }

 private:
  Registration insertOrUpdate(const std::string& key, uint32_t fileKeyLength, uint64_t blockNo,
                              const std::string& etag, uint32_t length);

  std::unordered_map<std::string, PolicyId> ids_;  // block key -> id
  std::vector<Block> blocks_;                      // id - 1 -> block
  uint64_t readSeq_ = 0;
};

}  // namespace epochfs::cache
