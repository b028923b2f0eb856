// cache/PrefetchLead.h: how far ahead of the readers a planned prefetch must start to be of
// use.
//
// A prefetch claimed now at plan position p is cached after L seconds (its fetch and its
// fill); readers consuming r positions per second reach p after (p - cursor) / r seconds. If
// that comes first, the readers wait for the prefetch (or fetch the block themselves) and the
// prefetch saved nothing but an origin request. So a prefetch must start at least r x L
// positions after the cursor: the positions before that are the readers' own. PrefetchLead
// measures r (new block reads per second, smoothed over windows of 100 ms) and L (the recent
// prefetches' fetch-to-cached time, smoothed) and returns r x L x 1.5 (a margin for the
// variance of both), plus the readers waiting on the origin now (about to fetch the next
// blocks themselves).
//
// Not thread-safe: the cache calls it with its mutex held. Times come from the caller (the
// cache's clock, which a test steps).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace epochfs::cache {

class PrefetchLead {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kWindow = std::chrono::milliseconds(100);
  static constexpr double kMargin = 1.5;
  static constexpr uint64_t kMaxLead = uint64_t{1} << 20;

  // One new block read (a plan position consumed, if a plan is followed).
  void onRead(Clock::time_point now);
  // A prefetch took `took` from its claim until its block was cached.
  void onPrefetched(Clock::duration took);
  // The positions after the cursor a prefetch claimed at `now` leaves to the readers, with
  // `readersWaiting` readers waiting on the origin now.
  uint64_t positions(Clock::time_point now, unsigned readersWaiting);

  // The smoothed reader rate (reads per second) and prefetch time (seconds), for tests.
  double readsPerSecond() const { return rate_; }
  double prefetchSeconds() const { return latency_; }

 private:
  // Folds the reads of the window that began at windowStart_ into rate_ once it is kWindow old.
  void roll(Clock::time_point now);

  std::optional<Clock::time_point> windowStart_;
  uint64_t windowReads_ = 0;
  double rate_ = 0;     // reads per second
  double latency_ = 0;  // seconds; 0 until the first prefetch is done
  bool haveLatency_ = false;
};

}  // namespace epochfs::cache
