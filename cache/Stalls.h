// cache/Stalls.h: how long readers waited for bytes the cache did not have.
//
// A block read that is not a hit waits: on the origin (its own fetch, or a read of just the
// range asked for), on a fetch already in flight (a prefetcher's, or another reader's), and,
// when it led the fetch, on writing the block into the cache before its reply goes out. Each
// such block read is one Stall: its waits by kind. StallStats adds them up, per epoch and
// since the mount, with a histogram of the whole waits for percentiles. A hit waits for
// nothing but the SSD, which is what local disk costs too, and is not counted.
//
// Not thread-safe: the cache records with its mutex held.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace epochfs::cache {

enum class StallKind : uint8_t {
  kOrigin,    // the reader's own origin fetch
  kPrefetch,  // a prefetch of the block already in flight
  kReader,    // another reader's fetch of the block already in flight
  kFill,      // writing the fetched block into the cache (evictions included) before replying
};
inline constexpr size_t kStallKinds = 4;

// One block read's waits, in nanoseconds, by StallKind.
struct Stall {
  std::array<uint64_t, kStallKinds> ns{};
  void add(StallKind k, uint64_t n) { ns[static_cast<size_t>(k)] += n; }
  uint64_t total() const;
};

// Durations in log-spaced buckets: four per doubling from 1 us (so a quantile is rounded up by
// at most 19%) up to ~1 h; shorter ones count in the first bucket, longer in the last.
class WaitHistogram {
 public:
  static constexpr size_t kBuckets = 128;

  void add(uint64_t ns);
  uint64_t count() const { return count_; }
  // The smallest bucket bound (ns) at or below which a fraction `q` (0 < q <= 1) of the
  // durations lie; 0 when empty.
  uint64_t quantile(double q) const;
  // The upper bound (ns) of bucket `b`.
  static uint64_t upperBound(size_t b);
  static size_t bucketOf(uint64_t ns);

 private:
  std::array<uint32_t, kBuckets> counts_{};
  uint64_t count_ = 0;
};

struct StallStats {
  uint64_t reads = 0;                        // block reads that waited (each a Stall)
  std::array<uint64_t, kStallKinds> ns{};    // their waits by kind
  WaitHistogram waits;                       // each one's total wait
  uint64_t maxNs = 0;                        // the longest of them

  void record(const Stall& s);
  uint64_t totalNs() const;
  uint64_t nsOf(StallKind k) const { return ns[static_cast<size_t>(k)]; }
};

}  // namespace epochfs::cache
