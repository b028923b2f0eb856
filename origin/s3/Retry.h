// origin/s3/Retry.h: how S3Client retries a failed request: exponential backoff with full
// jitter, within a bounded number of attempts and a bounded time.
//
// The delay before retry n (n = 0 after the first failure) is uniform in
// [0, min(maxDelay, baseDelay * 2^n)] ("full jitter"): many clients throttled together spread
// out instead of retrying in lock-step. No retry starts after `budget` has passed since the
// first attempt started; a backoff that would end later is cut short to end at the deadline,
// so the last attempt still happens. What is worth retrying (5xx, SlowDown, resets, timeouts)
// is S3Client's decision; this file only does the arithmetic and the loop, with the clock,
// the sleep and the random numbers injectable so tests are deterministic and instant.
#pragma once

#include <chrono>
#include <functional>

namespace epochfs::config {
struct S3RetryOptions;
}

namespace epochfs::origin::s3 {

struct RetryPolicy {
  int maxAttempts = 6;  // the first attempt included; >= 1
  std::chrono::nanoseconds baseDelay = std::chrono::milliseconds(100);
  std::chrono::nanoseconds maxDelay = std::chrono::seconds(5);
  std::chrono::nanoseconds budget = std::chrono::seconds(30);

  static RetryPolicy from(const config::S3RetryOptions& opts);
};

// The upper bound of the backoff before retry `n`: min(maxDelay, baseDelay * 2^n), without
// overflow for any n.
std::chrono::nanoseconds backoffCap(const RetryPolicy& policy, int n);
// The backoff itself for a uniform random `unit` in [0, 1).
std::chrono::nanoseconds backoffDelay(const RetryPolicy& policy, int n, double unit);

struct RetryClock {
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::nanoseconds)> sleep;
  std::function<double()> random;  // uniform in [0, 1)

  // steady_clock, this_thread::sleep_for, a thread-local PRNG.
  static RetryClock real();
};

struct RetryOutcome {
  int attempts = 0;
  bool gaveUp = false;  // the last attempt asked for a retry that the budget did not allow
  std::chrono::nanoseconds elapsed{0};
};

// Calls attempt(i) for i = 0, 1, ... until it returns false ("done": success or a failure not
// worth retrying), maxAttempts calls were made, or the time budget is spent. attempt() gets
// the deadline too, so a request may bound its own duration by it.
RetryOutcome runWithRetries(
    const RetryPolicy& policy, const RetryClock& clock,
    const std::function<bool(int attempt, std::chrono::steady_clock::time_point deadline)>&
        attempt);

}  // namespace epochfs::origin::s3
