#include "fs/ControlFiles.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/Version.h"

namespace epochfs::fs {

std::string renderStats(const StatsContext& ctx, const cache::CacheStats& c,
                        const origin::OriginCounters& o, const NamespaceStats& ns) {
  nlohmann::ordered_json j;
  j["version"] = kVersion;
  j["pid"] = static_cast<int64_t>(getpid());
  j["mountpoint"] = ctx.mountpoint;
  j["source"] = ctx.source;
  j["cache_dir"] = ctx.cacheDir;
  j["cache"] = {
      {"hits", c.hits},
      {"misses", c.misses},
      {"hit_bytes", c.hitBytes},
      {"miss_bytes", c.missBytes},
      {"used_bytes", c.usedBytes},
      {"limit_bytes", c.limitBytes},
      {"blocks", c.blocks},
      {"checksum_failures", c.checksumFailures},
      {"evictions", c.evictions},
      {"stale_drops", c.staleDrops},
      {"not_admitted", c.notAdmitted},
      {"single_flight_waits", c.singleFlightWaits},
      {"recovered_blocks", c.recoveredBlocks},
      {"orphans_removed", c.orphansRemoved},
  };
  j["origin"] = {
      {"requests", o.requests.load()},
      {"bytes", o.bytes.load()},
      {"errors", o.errors.load()},
      {"read_requests", o.readRequests.load()},
      {"list_requests", o.listRequests.load()},
      {"stat_requests", o.statRequests.load()},
  };
  j["policy"] = {{"name", ctx.policyName}};
  j["namespace"] = {
      {"mode", ns.mode},
      {"directories", ns.directories},
      {"entries", ns.entries},
      {"loaded_from_snapshot", ns.loadedFromSnapshot},
      {"snapshot_age_sec", ns.snapshotAgeSec},
      {"refreshes", ns.refreshes},
  };
  j["fs"] = {{"inodes", ctx.inodes}};
  return j.dump(2) + "\n";
}

}  // namespace epochfs::fs
