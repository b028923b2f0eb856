#include "fs/ControlFiles.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/Version.h"

namespace epochfs::fs {
namespace {

double seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }
double millis(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// The waits of `reads` block reads (docs/stats.md, "stalls").
nlohmann::ordered_json stallsJson(const cache::StallStats& st, uint64_t reads) {
  using cache::StallKind;
  return {
      {"reads", st.reads},
      {"share", reads == 0 ? 0.0 : static_cast<double>(st.reads) / static_cast<double>(reads)},
      {"seconds", seconds(st.totalNs())},
      {"origin_seconds", seconds(st.nsOf(StallKind::kOrigin))},
      {"prefetch_seconds", seconds(st.nsOf(StallKind::kPrefetch))},
      {"reader_seconds", seconds(st.nsOf(StallKind::kReader))},
      {"fill_seconds", seconds(st.nsOf(StallKind::kFill))},
      {"p50_ms", millis(st.waits.quantile(0.5))},
      {"p99_ms", millis(st.waits.quantile(0.99))},
      {"max_ms", millis(st.maxNs)},
  };
}

}  // namespace

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
      {"block_size", c.blockSizeBytes},
      {"blocks", c.blocks},
      {"checksum_failures", c.checksumFailures},
      {"lost_blocks", c.lostBlocks},
      {"evictions", c.evictions},
      {"stale_drops", c.staleDrops},
      {"not_admitted", c.notAdmitted},
      {"single_flight_waits", c.singleFlightWaits},
      {"recovered_blocks", c.recoveredBlocks},
      {"orphans_removed", c.orphansRemoved},
      {"origin_bytes", c.originBytes},
      {"write_failures", c.writeFailures},
      {"random_files", c.randomFiles},
      {"index_resets", c.indexResets},
  };
  j["stalls"] = stallsJson(c.stalls, c.hits + c.misses);
  j["origin"] = {
      {"requests", o.requests.load()},
      {"bytes", o.bytes.load()},
      {"errors", o.errors.load()},
      {"read_requests", o.readRequests.load()},
      {"list_requests", o.listRequests.load()},
      {"stat_requests", o.statRequests.load()},
      {"integrity",
       {
           {"mode", ctx.integrity.mode},
           {"verified_reads", ctx.integrity.verifiedReads},
           {"verified_bytes", ctx.integrity.verifiedBytes},
           {"unverified_reads", ctx.integrity.unverifiedReads},
           {"unverified_bytes", ctx.integrity.unverifiedBytes},
           {"mismatches", ctx.integrity.mismatches},
           {"failed_reads", ctx.integrity.failedReads},
       }},
  };
  j["policy"] = {
      {"name", ctx.policyName},
      {"epoch", c.epoch},
      {"policy_epoch", c.policy.epoch},
      {"active_plans", c.policy.activePlans},
      {"plan_active", c.policy.planActive},
      {"plan_remaining_blocks", c.policy.planRemaining},
      {"prefetch_queue", c.policy.prefetchQueue},
      {"prefetch_in_flight", c.policy.prefetchInFlight},
  };
  j["prefetch"] = {
      {"threads", c.prefetch.threads},
      {"prefetched", c.prefetch.prefetched},
      {"prefetched_bytes", c.prefetch.prefetchedBytes},
      {"unused", c.prefetch.unused},
      {"declined", c.prefetch.declined},
      {"failed", c.prefetch.failed},
      {"paused", c.prefetch.paused},
      {"pauses", c.prefetch.pauses},
      {"discovered_files", c.prefetch.discoveredFiles},
      {"discovered_blocks", c.prefetch.discoveredBlocks},
  };
  j["plans"] = {
      {"published", ctx.plans.published},
      {"paths", ctx.plans.paths},
      {"unknown_paths", ctx.plans.unknownPaths},
      {"rejected", ctx.plans.rejected},
      {"ignored", ctx.plans.ignored},
      {"discarded", c.policy.plansDiscarded},
      {"planned_files", c.prefetch.plannedFiles},
      {"planned_blocks", c.prefetch.plannedBlocks},
  };
  nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
  for (const cache::EpochStats& e : c.epochs) {
    const uint64_t bytes = e.hitBytes + e.missBytes;
    epochs.push_back({
        {"epoch", e.epoch},
        {"reads", e.reads},
        {"hits", e.hits},
        {"hit_ratio", e.reads == 0 ? 0.0 : static_cast<double>(e.hits) / static_cast<double>(e.reads)},
        {"hit_bytes", e.hitBytes},
        {"miss_bytes", e.missBytes},
        {"byte_hit_ratio", bytes == 0 ? 0.0 : static_cast<double>(e.hitBytes) / static_cast<double>(bytes)},
        {"origin_bytes", e.originBytes},
        {"prefetched", e.prefetched},
        {"prefetch_unused", e.prefetchUnused},
        {"stalls", stallsJson(e.stalls, e.reads)},
    });
  }
  j["epochs"] = std::move(epochs);
  j["namespace"] = {
      {"mode", ns.mode},
      {"directories", ns.directories},
      {"entries", ns.entries},
      {"loaded_from_snapshot", ns.loadedFromSnapshot},
      {"snapshot_age_sec", ns.snapshotAgeSec},
      {"refreshes", ns.refreshes},
  };
  j["fs"] = {{"inodes", ctx.inodes}};
  nlohmann::ordered_json requests = nlohmann::ordered_json::object();
  for (const auto& [name, n] : ctx.fuse.requests) requests[name] = n;
  nlohmann::ordered_json pass = {
      {"active", ctx.fuse.passthrough},
      {"opens", ctx.fuse.pass.opens},
      {"cached_opens", ctx.fuse.pass.cachedOpens},
      {"direct_opens", ctx.fuse.pass.directOpens},
      {"backing_files", ctx.fuse.pass.backingFiles},
      {"backing_failures", ctx.fuse.pass.backingFailures},
      {"verified_bytes", c.whole.bytes},
      {"verified_earlier", c.whole.trusted},
      {"too_large", c.whole.tooLarge},
      {"not_cached", c.whole.notCached},
      {"corrupt", c.whole.corrupt},
      {"held", c.whole.held},
      {"held_evicted_bytes", c.whole.heldEvictedBytes},
  };
  if (!ctx.fuse.passthrough) pass["reason"] = ctx.fuse.passthroughOff;
  j["fuse"] = {{"requests", std::move(requests)}, {"passthrough", std::move(pass)}};
  return j.dump(2) + "\n";
}

}  // namespace epochfs::fs
