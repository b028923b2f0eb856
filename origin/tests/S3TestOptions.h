// origin/tests/S3TestOptions.h: S3 options for tests against a fake server on loopback.
#pragma once

#include <string>

#include "config/Options.h"

namespace epochfs::origin::s3 {

// Retries fast enough for unit tests: 4 attempts, 5-20 ms apart, a 5 s budget; 1 s timeouts.
inline config::S3Options fastOptions(const std::string& endpoint) {
  config::S3Options o;
  o.endpoint = endpoint;
  o.connectTimeoutSec = 1;
  o.lowSpeedTimeSec = 1;
  o.maxConnections = 8;
  o.retry.maxAttempts = 4;
  o.retry.baseDelaySec = 0.005;
  o.retry.maxDelaySec = 0.02;
  o.retry.budgetSec = 5;
  return o;
}

}  // namespace epochfs::origin::s3
