#include "cache/PrefetchLead.h"

#include <algorithm>
#include <cmath>

namespace epochfs::cache {
namespace {

// Weight of the newest window (reader rate) and of the newest prefetch (its time).
constexpr double kRateWeight = 0.5;
constexpr double kLatencyWeight = 0.2;

double seconds(PrefetchLead::Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

void PrefetchLead::roll(Clock::time_point now) {
  if (!windowStart_) {
    windowStart_ = now;
    return;
  }
  const Clock::duration span = now - *windowStart_;
  if (span < kWindow) return;
  // A window that ran long (no reads, or no one asking) folds in as one, its idle time
  // included: a reader that paused reads slower.
  const double windowRate = static_cast<double>(windowReads_) / seconds(span);
  rate_ = rate_ == 0 ? windowRate : kRateWeight * windowRate + (1 - kRateWeight) * rate_;
  windowStart_ = now;
  windowReads_ = 0;
}

void PrefetchLead::onRead(Clock::time_point now) {
  roll(now);
  windowReads_++;
}

void PrefetchLead::onPrefetched(Clock::duration took) {
  const double s = std::max(0.0, seconds(took));
  latency_ = haveLatency_ ? kLatencyWeight * s + (1 - kLatencyWeight) * latency_ : s;
  haveLatency_ = true;
}

uint64_t PrefetchLead::positions(Clock::time_point now, unsigned readersWaiting) {
  roll(now);
  const double ahead = std::round(rate_ * latency_ * kMargin);
  const auto lead = static_cast<uint64_t>(std::min(ahead, static_cast<double>(kMaxLead)));
  return lead + readersWaiting;
}

}  // namespace epochfs::cache
