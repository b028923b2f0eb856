#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/BlockStore.h"
#include "cache/Index.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

// Records what the cache tells it; admits everything and evicts the oldest insert.
class RecordingPolicy final : public policy::Policy {
 public:
  explicit RecordingPolicy(std::vector<policy::BlockId>* inserts) : inserts_(inserts) {}
  std::string_view name() const override { return "recording"; }
  void onInsert(policy::BlockId id, uint64_t) override {
    inserts_->push_back(id);
    live_.push_back(id);
  }
  void onAccess(policy::BlockId) override {}
  void onErase(policy::BlockId id) override { std::erase(live_, id); }
  bool shouldAdmit(uint64_t, uint64_t) override { return true; }
  std::optional<policy::BlockId> pickVictim() override {
    if (live_.empty()) return std::nullopt;
    return live_.front();
  }
  size_t size() const override { return live_.size(); }

 private:
  std::vector<policy::BlockId>* inserts_;
  std::vector<policy::BlockId> live_;
};

class RecoveryTest : public BlockCacheTest {};

TEST_F(RecoveryTest, CrashLeftoversAreCleanedUp) {
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 3; ++i) {
    std::string bytes = randomBytes(1000 + static_cast<size_t>(i), static_cast<uint64_t>(i));
    files.emplace_back(put("r" + std::to_string(i), bytes), bytes);
  }
  {
    auto cache = open();
    for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
  }
  // What a kill -9 can leave: a half-written block in tmp/, a block file renamed into place
  // whose index entry never made it, and (after a power loss) an entry whose file is gone.
  {
    auto store = BlockStore::open(opts_.dir);
    ASSERT_TRUE(store.isOk());
    ASSERT_TRUE((*store)->write(BlockFileId{500}, asBytes("orphan")).isOk());
    auto index = Index::open(opts_.dir + "/index");
    ASSERT_TRUE(index.isOk());
    ASSERT_TRUE((*index)->put(blockKey("ghost", 0), IndexEntry{600, 10, "v1", {1}}).isOk());
  }
  std::ofstream(opts_.dir + "/tmp/00000000000000aa") << "partial";
  ASSERT_EQ(countFiles(opts_.dir + "/blocks"), 4u);
  uint64_t before = originReads();
  {
    auto cache = open();
    ASSERT_TRUE(cache);
    CacheStats s = cache->stats();
    EXPECT_EQ(s.recoveredBlocks, 3u);
    EXPECT_EQ(s.orphansRemoved, 3u);  // tmp file, orphan block, dangling entry
    EXPECT_EQ(s.blocks, 3u);
    EXPECT_TRUE(std::filesystem::is_empty(opts_.dir + "/tmp"));
    EXPECT_EQ(countFiles(opts_.dir + "/blocks"), 3u);
    for (auto& [f, bytes] : files) ASSERT_EQ(readAll(*cache, f), bytes);
    EXPECT_EQ(originReads(), before);
    // New ids continue above everything seen, the orphan's included.
    FileRef g = put("new", randomBytes(10, 1));
    readAll(*cache, g);
  }
  auto index = Index::open(opts_.dir + "/index");
  ASSERT_TRUE(index.isOk());
  EXPECT_EQ((*index)->get(blockKey("ghost", 0)).status().code(), Code::kNotFound);
  auto fresh = (*index)->get(blockKey("new", 0));
  ASSERT_TRUE(fresh.isOk());
  EXPECT_GT(fresh->blockId, 600u);
}

TEST_F(RecoveryTest, WrongSizeFilesAndBadEntriesAreDropped) {
  std::string bytes = randomBytes(5000, 1);
  FileRef f = put("w", bytes);
  {
    auto cache = open();
    ASSERT_EQ(readAll(*cache, f), bytes);
  }
  auto blocks = filesUnder(opts_.dir + "/blocks");
  ASSERT_EQ(blocks.size(), 1u);
  std::filesystem::resize_file(blocks[0], 4000);  // a torn write after a power loss
  {
    auto index = Index::open(opts_.dir + "/index");
    ASSERT_TRUE(index.isOk());
    // An entry claiming more checksums than its length has chunks.
    ASSERT_TRUE((*index)->put(blockKey("odd", 0), IndexEntry{1, 5, "v", {1, 2, 3}}).isOk());
  }
  auto cache = open();
  ASSERT_TRUE(cache);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.recoveredBlocks, 0u);
  EXPECT_EQ(s.orphansRemoved, 3u);  // both entries, and the torn file they no longer own
  EXPECT_EQ(countFiles(opts_.dir + "/blocks"), 0u);
  EXPECT_EQ(readAll(*cache, f), bytes);
}

TEST_F(RecoveryTest, PolicySeesRecoveredBlocksInInsertionOrder) {
  std::vector<FileRef> files;
  for (int i = 0; i < 20; ++i) files.push_back(put("o/" + std::to_string(19 - i), "x"));
  std::vector<policy::BlockId> first;
  {
    auto cache = open(std::make_unique<RecordingPolicy>(&first));
    for (auto& f : files) readAll(*cache, f);  // inserted in reverse key order
  }
  std::vector<policy::BlockId> second;
  auto cache = open(std::make_unique<RecordingPolicy>(&second));
  EXPECT_EQ(second, first);
}

TEST_F(RecoveryTest, LoweredCacheSizeEvictsAtOpen) {
  std::vector<std::pair<FileRef, std::string>> files;
  for (int i = 0; i < 200; ++i) {
    std::string bytes = randomBytes(kBlock, static_cast<uint64_t>(i));
    files.emplace_back(put("l/" + std::to_string(i), bytes), bytes);
  }
  {
    auto cache = open("lru");
    for (auto& [f, bytes] : files) readAll(*cache, f);
    EXPECT_EQ(cache->stats().blocks, 200u);
  }
  opts_.sizeBytes = 8 * config::kMiB;
  for (const char* policy : {"lru", "fixed"}) {  // fixed names no victims: the cache must anyway
    auto cache = open(policy);
    ASSERT_TRUE(cache);
    CacheStats s = cache->stats();
    EXPECT_GT(s.evictions, 0u) << policy;
    EXPECT_LE(s.usedBytes, s.limitBytes) << policy;
    EXPECT_LE(diskUsage(opts_.dir), opts_.sizeBytes) << policy;
    EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), s.blocks);
    opts_.sizeBytes = 4 * config::kMiB;
  }
}

}  // namespace
}  // namespace epochfs::cache::testing
