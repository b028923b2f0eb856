// Stall accounting: the histogram's buckets and quantiles, the sums by kind.
#include "cache/Stalls.h"

#include <gtest/gtest.h>

namespace epochfs::cache {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(WaitHistogramTest, BucketsAreFourPerDoublingFromOneMicrosecond) {
  EXPECT_EQ(WaitHistogram::bucketOf(0), 0u);
  EXPECT_EQ(WaitHistogram::bucketOf(999), 0u);
  EXPECT_EQ(WaitHistogram::bucketOf(1000), 1u);
  EXPECT_EQ(WaitHistogram::bucketOf(2000), 5u);
  EXPECT_EQ(WaitHistogram::bucketOf(4000), 9u);
  EXPECT_EQ(WaitHistogram::bucketOf(UINT64_MAX), WaitHistogram::kBuckets - 1);
  // Every duration lies below its bucket's bound and above the previous one's, and a bound is
  // at most 19% (2^(1/4)) above the durations it holds.
  for (uint64_t ns : {uint64_t{1000}, uint64_t{1500}, uint64_t{37000}, uint64_t{999999}, 5 * kMs,
                      1234 * kMs}) {
    const size_t b = WaitHistogram::bucketOf(ns);
    EXPECT_LT(ns, WaitHistogram::upperBound(b)) << ns;
    EXPECT_GE(ns, WaitHistogram::upperBound(b - 1)) << ns;
    EXPECT_LE(static_cast<double>(WaitHistogram::upperBound(b)),
              1.19 * static_cast<double>(ns) + 1);
  }
}

TEST(WaitHistogramTest, QuantilesAreTheNearestRankRoundedUpToItsBucket) {
  WaitHistogram h;
  EXPECT_EQ(h.quantile(0.5), 0u);
  for (int i = 0; i < 98; ++i) h.add(2 * kMs);
  h.add(100 * kMs);
  h.add(1000 * kMs);
  EXPECT_EQ(h.count(), 100u);
  const auto near = [](uint64_t got, uint64_t want) {
    return got >= want && static_cast<double>(got) <= 1.19 * static_cast<double>(want);
  };
  EXPECT_PRED2(near, h.quantile(0.5), 2 * kMs);
  EXPECT_PRED2(near, h.quantile(0.98), 2 * kMs);   // rank 98: the last of the 2 ms ones
  EXPECT_PRED2(near, h.quantile(0.99), 100 * kMs);  // rank 99
  EXPECT_PRED2(near, h.quantile(1.0), 1000 * kMs);
}

TEST(StallStatsTest, SumsByKindAndCountsEachBlockReadOnce) {
  StallStats st;
  Stall led;
  led.add(StallKind::kOrigin, 30 * kMs);
  led.add(StallKind::kFill, 2 * kMs);
  Stall joined;
  joined.add(StallKind::kPrefetch, 10 * kMs);
  st.record(led);
  st.record(joined);
  EXPECT_EQ(st.reads, 2u);
  EXPECT_EQ(st.nsOf(StallKind::kOrigin), 30 * kMs);
  EXPECT_EQ(st.nsOf(StallKind::kPrefetch), 10 * kMs);
  EXPECT_EQ(st.nsOf(StallKind::kReader), 0u);
  EXPECT_EQ(st.nsOf(StallKind::kFill), 2 * kMs);
  EXPECT_EQ(st.totalNs(), 42 * kMs);
  EXPECT_EQ(st.maxNs, 32 * kMs);  // the led read's whole wait, not one kind of it
  EXPECT_EQ(st.waits.count(), 2u);
  EXPECT_GE(st.waits.quantile(1.0), 32 * kMs);
}

}  // namespace
}  // namespace epochfs::cache
