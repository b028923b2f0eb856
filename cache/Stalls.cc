#include "cache/Stalls.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace epochfs::cache {

uint64_t Stall::total() const { return std::accumulate(ns.begin(), ns.end(), uint64_t{0}); }

// Bucket 0: under 1 us; bucket b >= 1: [2^((b-1)/4), 2^(b/4)) us.
size_t WaitHistogram::bucketOf(uint64_t ns) {
  const double us = static_cast<double>(ns) / 1000.0;
  if (us < 1.0) return 0;
  const auto b = static_cast<size_t>(std::floor(4.0 * std::log2(us))) + 1;
  return std::min(b, kBuckets - 1);
}

uint64_t WaitHistogram::upperBound(size_t b) {
  return static_cast<uint64_t>(std::llround(1000.0 * std::exp2(static_cast<double>(b) / 4.0)));
}

void WaitHistogram::add(uint64_t ns) {
  counts_[bucketOf(ns)]++;
  count_++;
}

uint64_t WaitHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  // The rank of the q-quantile, from 1 (nearest rank).
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) return upperBound(b);
  }
  return upperBound(kBuckets - 1);
}

void StallStats::record(const Stall& s) {
  reads++;
  for (size_t k = 0; k < kStallKinds; ++k) ns[k] += s.ns[k];
  const uint64_t total = s.total();
  waits.add(total);
  maxNs = std::max(maxNs, total);
}

uint64_t StallStats::totalNs() const {
  return std::accumulate(ns.begin(), ns.end(), uint64_t{0});
}

}  // namespace epochfs::cache
