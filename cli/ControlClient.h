// cli/ControlClient.h: what the CLI reads from a running mount.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/Status.h"

namespace epochfs::cli {

// True if `mountpoint` is listed in /proc/mounts as an epochfs FUSE mount.
bool isEpochfsMount(const std::string& mountpoint);

// Reads and parses MOUNTPOINT/.epochfs/stats. Errors name the mountpoint.
Result<nlohmann::json> readStats(const std::string& mountpoint);

// `path` made absolute and normalised without touching the filesystem (works on dead mounts).
std::string absolutePath(const std::string& path);

}  // namespace epochfs::cli
