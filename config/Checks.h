// config/Checks.h: checks of one option value each, internal to config/.
//
// The loader runs them as it reads a key, so a bad value in a file is reported with its line
// ("x.yaml:7: fuse.threads: 0 is out of range (1..1024)"); validate() runs them again on the
// final options, since a flag may have set the value. Messages name neither the key nor the
// file: the caller prefixes "key: " or "file:line: key: ". Checks that involve several keys
// live in validate() alone.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/Status.h"

namespace epochfs::config::checks {

// One of kPolicyNames: "'lfu' is not a policy (known: lru, fixed)".
Status policyName(std::string_view name);
// One of kLogLevels.
Status logLevel(std::string_view level);
// 1..kMaxFuseThreads.
Status fuseThreads(int64_t threads);
// Finite and >= 0.
Status attrTimeout(double seconds);
// kMinBlockSize..kMaxBlockSize and a multiple of kMinBlockSize.
Status blockSize(uint64_t bytes);
// A path option: may be empty (meaning "default"), must not start with '~', which neither
// YAML nor we expand, nor start or end with whitespace.
Status path(std::string_view path);

}  // namespace epochfs::config::checks
