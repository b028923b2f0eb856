// cache/IndexReset.h: what BlockCache::open does with an index RocksDB reports damaged.
//
// The index is only a cache of what the block files hold: a damaged one (a flipped byte in an
// SST, a missing MANIFEST, a CURRENT naming no manifest) must not block every later mount until
// someone deletes the cache dir by hand. It is renamed to index.corrupt-<UTC time> (for a
// post-mortem), only the newest kKeptDamagedIndexes of those are kept (their bytes count against
// cache.size, as everything in the dir does), and the cache starts empty: recovery then finds
// every block file unreferenced and removes it.
#pragma once

#include <cstddef>
#include <string>

#include "common/Status.h"

namespace epochfs::cache {

// Set-aside indexes kept, the newest; older ones are removed.
inline constexpr size_t kKeptDamagedIndexes = 1;

// Whether `st`, from opening or scanning the index, means the index itself is damaged (set it
// aside) rather than trouble that a new index would not escape (no space, EIO, EACCES: fail).
bool isIndexDamage(const Status& st);

// Removes the oldest set-aside indexes so that, with this one, kKeptDamagedIndexes remain, and
// renames <cacheDir>/index to <cacheDir>/index.corrupt-<UTC time>[-N]. Returns the new path; kIo naming a path if a
// rename or removal fails.
Result<std::string> setAsideIndex(const std::string& cacheDir);

}  // namespace epochfs::cache
