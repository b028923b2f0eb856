// docs/stats.md must name every key .epochfs/stats has, in a table row or a key list.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fs/ControlFiles.h"
#include "fs/FuseRequestCounts.h"

namespace epochfs::fs {
namespace {

std::string readDoc() {
  std::ifstream in(std::string(EPOCHFS_DOCS_DIR) + "/stats.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void collectKeys(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_array()) {
    for (const auto& e : j) collectKeys(e, out);
    return;
  }
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    out.push_back(it.key());
    collectKeys(it.value(), out);
  }
}

TEST(StatsDocTest, EveryKeyIsDocumented) {
  const std::string doc = readDoc();
  ASSERT_FALSE(doc.empty()) << "cannot read " << EPOCHFS_DOCS_DIR << "/stats.md";
  cache::CacheStats c;
  c.epochs.push_back(cache::EpochStats{});  // so that the per-epoch keys are rendered
  origin::OriginCounters o;
  NamespaceStats ns;
  StatsContext ctx;
  ctx.fuse.requests = FuseRequestCounts{}.snapshot();  // so that the opcode keys are rendered
  const nlohmann::json j = nlohmann::json::parse(renderStats(ctx, c, o, ns));
  std::vector<std::string> keys;
  collectKeys(j, keys);
  ASSERT_GT(keys.size(), 50u);
  for (const std::string& key : keys) {
    EXPECT_NE(doc.find("`" + key + "`"), std::string::npos) << key << " is not in docs/stats.md";
  }
}

// The waits render in seconds and milliseconds, their share over the reads they are part of.
TEST(StatsRenderTest, StallsRenderInSecondsWithTheirShare) {
  cache::CacheStats c;
  c.hits = 6;
  c.misses = 2;
  cache::Stall s;
  s.add(cache::StallKind::kOrigin, 300'000'000);
  s.add(cache::StallKind::kFill, 20'000'000);
  c.stalls.record(s);
  cache::EpochStats e;
  e.reads = 4;
  e.stalls.record(s);
  c.epochs.push_back(e);
  const nlohmann::json j =
      nlohmann::json::parse(renderStats(StatsContext{}, c, origin::OriginCounters{}, {}));
  const nlohmann::json& st = j["stalls"];
  EXPECT_EQ(st["reads"], 1);
  EXPECT_DOUBLE_EQ(st["share"].get<double>(), 1.0 / 8);
  EXPECT_DOUBLE_EQ(st["seconds"].get<double>(), 0.32);
  EXPECT_DOUBLE_EQ(st["origin_seconds"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(st["fill_seconds"].get<double>(), 0.02);
  EXPECT_DOUBLE_EQ(st["max_ms"].get<double>(), 320.0);
  EXPECT_GE(st["p50_ms"].get<double>(), 320.0);
  EXPECT_LE(st["p99_ms"].get<double>(), 320.0 * 1.19);
  EXPECT_DOUBLE_EQ(j["epochs"][0]["stalls"]["share"].get<double>(), 0.25);
}

}  // namespace
}  // namespace epochfs::fs
