// fs/ControlFiles.h: the hidden control directory `.epochfs/` at the mount root.
//
// It is reachable by path but never listed by readdir of the root, so dataset walkers (e.g.
// torchvision's ImageFolder, which treats every subdirectory as a class) do not see it. The
// name is reserved: the origin's entry of that name at the root is never listed nor looked up
// (FileSystem), so it cannot take the control directory's place in the kernel. Files:
//   .epochfs/stats    read-only JSON: cache, origin and policy counters (renderStats()).
//   .epochfs/refresh  kIocRefresh re-lists the origin (a namespace snapshot) and returns once
//                     done, or fails with the error (`epochfs refresh`). Reads as empty.
//   .epochfs/plan     a training job's order for its coming epoch, one path per line
//                     (fs/PlanParser.h), sent in chunks and committed with ioctls
//                     (fs/ControlIoctl.h, docs/python.md). Reads as empty.
// The mount is read-only, so none of them can be written; ioctls work on O_RDONLY files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/BlockCache.h"
#include "fs/Namespace.h"
#include "fs/Passthrough.h"
#include "origin/Origin.h"

namespace epochfs::fs {

inline constexpr std::string_view kControlDirName = ".epochfs";
inline constexpr std::string_view kStatsName = "stats";
inline constexpr uint64_t kControlDirIno = 2;
inline constexpr uint64_t kStatsIno = 3;
inline constexpr std::string_view kRefreshName = "refresh";
inline constexpr uint64_t kRefreshIno = 4;
inline constexpr std::string_view kPlanName = "plan";
inline constexpr uint64_t kPlanIno = 5;

// Plans published through .epochfs/plan.
struct PlanCounters {
  uint64_t published = 0;     // plans handed to the cache
  uint64_t paths = 0;         // paths in them
  uint64_t unknownPaths = 0;  // paths skipped: not found, or not a file
  uint64_t rejected = 0;      // plans refused as malformed (EINVAL)
  uint64_t ignored = 0;       // plans the policy does not use (lru, fixed)
};

inline bool isControlIno(uint64_t ino) { return ino >= kControlDirIno && ino < 16; }

// What FUSE itself did: the requests the kernel sent, and passthrough.
struct FuseStatsView {
  std::vector<std::pair<std::string, uint64_t>> requests;  // by opcode name
  bool passthrough = false;    // in effect
  std::string passthroughOff;  // why not, when not
  PassthroughStats pass;
};

struct StatsContext {
  std::string mountpoint;
  std::string source;
  std::string cacheDir;
  std::string policyName;
  uint64_t inodes = 0;
  PlanCounters plans;
  origin::IntegrityStats integrity;
  FuseStatsView fuse;
};

// The JSON served by .epochfs/stats, pretty-printed, ending with a newline.
std::string renderStats(const StatsContext& ctx, const cache::CacheStats& cache,
                        const origin::OriginCounters& origin, const NamespaceStats& ns);

}  // namespace epochfs::fs
