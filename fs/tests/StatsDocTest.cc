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

}  // namespace
}  // namespace epochfs::fs
