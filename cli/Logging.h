// cli/Logging.h: where the daemon's log goes.
#pragma once

#include <string>

#include "common/Status.h"

namespace epochfs::cli {

// Logs at `level` (trace..off) to `file` (appending, creating its directory), or to stderr
// when `file` is empty.
Status setupLogging(const std::string& level, const std::string& file);

}  // namespace epochfs::cli
