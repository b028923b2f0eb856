// How far ahead of the readers a planned prefetch starts: reader rate x prefetch time.
#include "cache/PrefetchLead.h"

#include <gtest/gtest.h>

namespace epochfs::cache {
namespace {

using std::chrono::milliseconds;
using Clock = PrefetchLead::Clock;

// `n` reads evenly over `span` from `t`; returns the time after them.
Clock::time_point readAtRate(PrefetchLead& lead, Clock::time_point t, int n, milliseconds span) {
  for (int i = 0; i < n; ++i) lead.onRead(t + span * i / n);
  return t + span;
}

TEST(PrefetchLeadTest, NothingMeasuredLeavesOnlyTheWaitingReaders) {
  PrefetchLead lead;
  const Clock::time_point t{};
  EXPECT_EQ(lead.positions(t, 0), 0u);
  EXPECT_EQ(lead.positions(t, 3), 3u);
  // Reads but no prefetch done yet: no time to multiply by.
  readAtRate(lead, t, 100, milliseconds(200));
  EXPECT_EQ(lead.positions(t + milliseconds(200), 2), 2u);
}

TEST(PrefetchLeadTest, LeadIsReaderRateTimesPrefetchTimeWithAMargin) {
  PrefetchLead lead;
  Clock::time_point t{};
  // 1,000 reads per second, steadily, for a second; prefetches take 20 ms.
  t = readAtRate(lead, t, 1000, milliseconds(1000));
  for (int i = 0; i < 20; ++i) lead.onPrefetched(milliseconds(20));
  EXPECT_NEAR(lead.readsPerSecond(), 1000, 50);
  EXPECT_NEAR(lead.prefetchSeconds(), 0.020, 1e-9);
  // 1000/s x 0.02 s x 1.5 = 30 positions, plus 4 readers waiting.
  const uint64_t n = lead.positions(t, 4);
  EXPECT_GE(n, 4u + 28u);
  EXPECT_LE(n, 4u + 32u);
}

TEST(PrefetchLeadTest, ASlowerReaderOrFasterPrefetchesNeedLessLead) {
  PrefetchLead lead;
  Clock::time_point t{};
  t = readAtRate(lead, t, 1000, milliseconds(1000));
  lead.onPrefetched(milliseconds(20));
  const uint64_t fast = lead.positions(t, 0);
  // The reader slows to 100 reads/s for two seconds: the rate follows within a few windows.
  t = readAtRate(lead, t, 200, milliseconds(2000));
  const uint64_t slow = lead.positions(t, 0);
  EXPECT_LT(slow, fast / 4) << "fast " << fast << ", slow " << slow;
  EXPECT_NEAR(lead.readsPerSecond(), 100, 20);
  // Prefetches get faster (2 ms): the smoothed time falls towards it.
  for (int i = 0; i < 40; ++i) lead.onPrefetched(milliseconds(2));
  EXPECT_NEAR(lead.prefetchSeconds(), 0.002, 0.0005);
  EXPECT_LE(lead.positions(t, 0), 1u);
}

TEST(PrefetchLeadTest, AReaderThatStopsNeedsNoLead) {
  PrefetchLead lead;
  Clock::time_point t{};
  t = readAtRate(lead, t, 1000, milliseconds(1000));
  lead.onPrefetched(milliseconds(50));
  EXPECT_GT(lead.positions(t, 0), 50u);
  // Ten seconds without a read: one long window of nothing halves the rate each time it is
  // asked after a window's length.
  for (int i = 1; i <= 20; ++i) lead.positions(t + milliseconds(500) * i, 0);
  EXPECT_EQ(lead.positions(t + milliseconds(10'000), 0), 0u);
}

}  // namespace
}  // namespace epochfs::cache
