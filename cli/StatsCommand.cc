// `epochfs stats`: renders MOUNTPOINT/.epochfs/stats for people, or prints it as JSON.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cli/Commands.h"
#include "cli/ControlClient.h"
#include "config/ConfigLoader.h"

namespace epochfs::cli {
namespace {

uint64_t num(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

std::string size(uint64_t bytes) { return config::formatSize(bytes); }

double real(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

std::string percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace

// The policy, prefetch and plan lines and the per-epoch table.
void printPolicy(const nlohmann::json& s) {
  const auto& p = s.value("policy", nlohmann::json::object());
  const auto& f = s.value("prefetch", nlohmann::json::object());
  const auto& pl = s.value("plans", nlohmann::json::object());
  std::cout << fmt::format("policy  {}, epoch {}, {} active plan epochs{}, prefetch queue {} "
                           "({} in flight)\n",
                           p.value("name", "?"), num(p, "epoch"), num(p, "active_plans"),
                           p.value("plan_active", false) ? " (following a plan)" : "",
                           num(p, "prefetch_queue"), num(p, "prefetch_in_flight"));
  std::cout << fmt::format("prefetch {} threads: {} blocks ({}), {} unused, {} declined, "
                           "{} failed\n",
                           num(f, "threads"), num(f, "prefetched"),
                           size(num(f, "prefetched_bytes")), num(f, "unused"),
                           num(f, "declined"), num(f, "failed"));
  if (num(pl, "published") + num(pl, "rejected") > 0) {
    std::cout << fmt::format("plans   {} published ({} paths, {} unknown), {} rejected, "
                             "{} ignored by the policy, {} discarded unread\n",
                             num(pl, "published"), num(pl, "paths"), num(pl, "unknown_paths"),
                             num(pl, "rejected"), num(pl, "ignored"), num(pl, "discarded"));
  }
  const auto& epochs = s.value("epochs", nlohmann::json::array());
  if (epochs.empty()) return;
  std::cout << "epoch      reads   hit ratio   origin bytes   prefetched   unused   "
               "waited s  reads waited  wait p50 ms  p99 ms\n";
  for (const auto& e : epochs) {
    const auto& st = e.value("stalls", nlohmann::json::object());
    std::cout << fmt::format("{:>5} {:>10} {:>10.1f}% {:>14} {:>12} {:>8} {:>10.2f} {:>12.1f}% "
                             "{:>12.2f} {:>7.2f}\n",
                             num(e, "epoch"), num(e, "reads"), 100.0 * e.value("hit_ratio", 0.0),
                             size(num(e, "origin_bytes")), num(e, "prefetched"),
                             num(e, "prefetch_unused"), real(st, "seconds"),
                             100.0 * real(st, "share"), real(st, "p50_ms"), real(st, "p99_ms"));
  }
}

int runStats(const std::string& mountpoint, bool json) {
  std::string mp = absolutePath(mountpoint);
  auto stats = readStats(mp);
  if (!stats.isOk()) {
    std::cerr << "epochfs: " << stats.status().message() << "\n";
    return 1;
  }
  const nlohmann::json& s = *stats;
  if (json) {
    std::cout << s.dump(2) << "\n";
    return 0;
  }
  const auto& c = s.value("cache", nlohmann::json::object());
  const auto& o = s.value("origin", nlohmann::json::object());
  const auto& p = s.value("policy", nlohmann::json::object());
  uint64_t hits = num(c, "hits"), misses = num(c, "misses");
  std::cout << fmt::format("epochfs {} (pid {}): {} -> {}\n", s.value("version", "?"),
                           s.value("pid", 0), s.value("source", "?"), s.value("mountpoint", mp));
  std::cout << fmt::format("cache   {}  used {} of {} ({}), {} blocks, policy {}\n",
                           s.value("cache_dir", "?"), size(num(c, "used_bytes")),
                           size(num(c, "limit_bytes")),
                           percent(num(c, "used_bytes"), num(c, "limit_bytes")),
                           num(c, "blocks"), p.value("name", "?"));
  std::cout << fmt::format("reads   {} hits ({}), {} misses ({}), hit ratio {}\n", hits,
                           size(num(c, "hit_bytes")), misses, size(num(c, "miss_bytes")),
                           percent(hits, hits + misses));
  std::cout << fmt::format(
      "        {} evictions, {} not admitted, {} checksum failures, {} stale drops, "
      "{} single-flight waits\n",
      num(c, "evictions"), num(c, "not_admitted"), num(c, "checksum_failures"),
      num(c, "stale_drops"), num(c, "single_flight_waits"));
  std::cout << fmt::format("        {} blocks recovered at mount, {} orphans removed\n",
                           num(c, "recovered_blocks"), num(c, "orphans_removed"));
  const auto& st = s.value("stalls", nlohmann::json::object());
  std::cout << fmt::format(
      "waits   readers waited {:.2f} s in {} block reads ({:.1f}%): origin {:.2f} s, prefetch "
      "in flight {:.2f} s, another reader's fetch {:.2f} s, cache writes {:.2f} s; p50 {:.2f} "
      "ms, p99 {:.2f} ms, max {:.2f} ms\n",
      real(st, "seconds"), num(st, "reads"), 100.0 * real(st, "share"),
      real(st, "origin_seconds"), real(st, "prefetch_seconds"), real(st, "reader_seconds"),
      real(st, "fill_seconds"), real(st, "p50_ms"), real(st, "p99_ms"), real(st, "max_ms"));
  const auto& n = s.value("namespace", nlohmann::json::object());
  if (!n.empty()) {
    std::string mode = n.value("mode", "?");
    std::cout << fmt::format("names   {}", mode);
    if (mode != "passthrough") {
      std::cout << fmt::format(", {} directories, {} entries", num(n, "directories"),
                               num(n, "entries"));
    }
    if (mode == "immutable") {
      std::cout << fmt::format(", snapshot {} s old{}", n.value("snapshot_age_sec", 0.0),
                               n.value("loaded_from_snapshot", false) ? ", loaded from disk" : "");
    }
    std::cout << "\n";
  }
  std::cout << fmt::format(
      "origin  {} requests ({} reads, {} lists, {} stats), {} read, {} errors\n",
      num(o, "requests"), num(o, "read_requests"), num(o, "list_requests"),
      num(o, "stat_requests"), size(num(o, "bytes")), num(o, "errors"));
  printPolicy(s);
  return 0;
}

}  // namespace epochfs::cli
