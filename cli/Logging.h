// cli/Logging.h: where the daemon's log goes.
#pragma once

#include <cstdint>
#include <string>

#include "cli/RotatingLogSink.h"
#include "common/Status.h"

namespace epochfs::cli {

// The log file's bound: then one rotated file, 8 MiB at most.
inline constexpr uint64_t kMaxLogBytes = 4 << 20;

// Logs at `level` (trace..off) to `file` (appending, creating its directory; the file 0600,
// at most `maxBytes` plus one rotated copy: RotatingLogSink), or to stderr when `file` is
// empty. No logging failure ever reaches the caller of a log call or ends the process: errors
// are counted (logHealth) and reported on stderr at most once per kReportEvery.
Status setupLogging(const std::string& level, const std::string& file,
                    uint64_t maxBytes = kMaxLogBytes);

// Failures of the log file since setupLogging, plus errors spdlog reported (a formatting error,
// a sink that threw) in writeFailures.
LogHealth logHealth();

}  // namespace epochfs::cli
