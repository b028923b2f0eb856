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

std::string percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace

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
  return 0;
}

}  // namespace epochfs::cli
