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

// One of kPolicyNames: "'lfu' is not a policy (known: epoch, lru, fixed)".
Status policyName(std::string_view name);
// One of kLogLevels.
Status logLevel(std::string_view level);
// 1..kMaxFuseThreads.
Status fuseThreads(int64_t threads);
Status prefetchThreads(int64_t threads);
// Finite and >= 0.
Status attrTimeout(double seconds);
// 0 .. kMaxReadAhead, a multiple of 4 KiB.
Status readAhead(uint64_t bytes);
// kMinBlockSize..kMaxBlockSize and a multiple of kMinBlockSize.
Status blockSize(uint64_t bytes);
// cache.random_block_size given as a size: a power of two, 64 KiB .. half the largest block.
Status randomBlockSize(uint64_t bytes);
// A path option: may be empty (meaning "default"), must not start with '~', which neither
// YAML nor we expand, nor start or end with whitespace.
Status path(std::string_view path);

// s3 section.
// "" (AWS) or "http://host[:port]" / "https://host[:port]", without path, query or user info.
Status s3Endpoint(std::string_view endpoint);
// Non-empty, [a-z0-9-] only ("us-east-1"): it becomes part of a host name and the signature.
Status s3Region(std::string_view region);
// One of kS3Addressings.
Status s3Addressing(std::string_view addressing);
// "" or an environment variable name: [A-Za-z_][A-Za-z0-9_]*.
Status envName(std::string_view name);
// Finite and > 0.
Status positiveSeconds(double seconds);
// 1..max.
Status countInRange(int64_t value, int64_t max);

}  // namespace epochfs::config::checks
