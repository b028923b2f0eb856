// origin/s3/Retry.cc: backoff arithmetic and the retry loop.
#include "origin/s3/Retry.h"

#include <algorithm>
#include <random>
#include <thread>

#include "config/Options.h"

namespace epochfs::origin::s3 {
namespace {

std::chrono::nanoseconds fromSeconds(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

}  // namespace

RetryPolicy RetryPolicy::from(const config::S3RetryOptions& opts) {
  RetryPolicy p;
  p.maxAttempts = std::max(1, opts.maxAttempts);
  p.baseDelay = fromSeconds(opts.baseDelaySec);
  p.maxDelay = fromSeconds(opts.maxDelaySec);
  p.budget = fromSeconds(opts.budgetSec);
  return p;
}

std::chrono::nanoseconds backoffCap(const RetryPolicy& policy, int n) {
  using std::chrono::nanoseconds;
  nanoseconds cap = policy.baseDelay;
  for (int i = 0; i < n && cap < policy.maxDelay; ++i) {
    // Doubling past maxDelay is clamped below, so this never overflows for sane inputs; guard
    // anyway against a huge base.
    if (cap.count() > nanoseconds::max().count() / 2) return policy.maxDelay;
    cap *= 2;
  }
  return std::min(cap, policy.maxDelay);
}

std::chrono::nanoseconds backoffDelay(const RetryPolicy& policy, int n, double unit) {
  unit = std::clamp(unit, 0.0, 1.0);
  const auto cap = backoffCap(policy, n);
  return std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(cap.count()) * unit));
}

RetryClock RetryClock::real() {
  RetryClock c;
  c.now = [] { return std::chrono::steady_clock::now(); };
  c.sleep = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
  c.random = [] {
    thread_local std::mt19937_64 rng(std::random_device{}());
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  };
  return c;
}

RetryOutcome runWithRetries(
    const RetryPolicy& policy, const RetryClock& clock,
    const std::function<bool(int, std::chrono::steady_clock::time_point)>& attempt) {
  RetryOutcome out;
  const auto start = clock.now();
  const auto deadline = start + policy.budget;
  for (int i = 0;; ++i) {
    ++out.attempts;
    const bool retry = attempt(i, deadline);
    if (!retry) break;
    if (out.attempts >= policy.maxAttempts) {
      out.gaveUp = true;
      break;
    }
    const auto now = clock.now();
    if (now >= deadline) {
      out.gaveUp = true;
      break;
    }
    auto delay = backoffDelay(policy, i, clock.random());
    delay = std::min<std::chrono::nanoseconds>(delay, deadline - now);
    if (delay.count() > 0) clock.sleep(delay);
  }
  out.elapsed = clock.now() - start;
  return out;
}

}  // namespace epochfs::origin::s3
