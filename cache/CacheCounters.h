// cache/CacheCounters.h: the cache's monotonic counters (CacheStats documents each).
//
// Thread-safe: atomics, bumped without the cache's lock on the read path.
#pragma once

#include <atomic>
#include <cstdint>

#include "cache/BlockCache.h"

namespace epochfs::cache {

struct CacheCounters {
  std::atomic<uint64_t> hits{0}, misses{0}, hitBytes{0}, missBytes{0};
  std::atomic<uint64_t> checksumFailures{0}, lostBlocks{0}, evictions{0}, staleDrops{0};
  std::atomic<uint64_t> notAdmitted{0}, singleFlightWaits{0};
  std::atomic<uint64_t> recoveredBlocks{0}, orphansRemoved{0}, indexResets{0};
  std::atomic<uint64_t> originBytes{0}, writeFailures{0};
  // CacheStats::whole, but for what is counted under the cache's lock (held, heldEvictedBytes).
  std::atomic<uint64_t> wholeOpens{0}, wholeBytes{0}, wholeTooLarge{0}, wholeNotCached{0};
  std::atomic<uint64_t> wholeCorrupt{0}, wholeTrusted{0};

  // Copies them into `s` (the fields of the same names; whole* into s.whole).
  void copyTo(CacheStats& s) const {
    s.hits = hits;
    s.misses = misses;
    s.hitBytes = hitBytes;
    s.missBytes = missBytes;
    s.checksumFailures = checksumFailures;
    s.lostBlocks = lostBlocks;
    s.evictions = evictions;
    s.staleDrops = staleDrops;
    s.notAdmitted = notAdmitted;
    s.singleFlightWaits = singleFlightWaits;
    s.recoveredBlocks = recoveredBlocks;
    s.orphansRemoved = orphansRemoved;
    s.indexResets = indexResets;
    s.originBytes = originBytes;
    s.writeFailures = writeFailures;
    s.whole.opens = wholeOpens;
    s.whole.bytes = wholeBytes;
    s.whole.tooLarge = wholeTooLarge;
    s.whole.notCached = wholeNotCached;
    s.whole.corrupt = wholeCorrupt;
    s.whole.trusted = wholeTrusted;
  }
};

}  // namespace epochfs::cache
