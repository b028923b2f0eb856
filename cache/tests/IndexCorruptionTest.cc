// An index RocksDB finds damaged (a flipped byte in an SST, a missing MANIFEST, a CURRENT that
// names no manifest) must not block every later mount: it is set aside, counted, and the
// cache starts empty, its old block files removed as orphans.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

namespace fs = std::filesystem;

class IndexCorruptionTest : public BlockCacheTest {
 protected:
  static constexpr int kFiles = 200;

  // Caches kFiles small files, and reopens once so that RocksDB flushes its WAL to an SST.
  void fill() {
    for (int i = 0; i < kFiles; ++i) {
      files_.push_back(put("c/" + std::to_string(i), randomBytes(500, static_cast<uint64_t>(i))));
    }
    {
      auto cache = open();
      ASSERT_TRUE(cache);
      for (const FileRef& f : files_) readAll(*cache, f);
      ASSERT_EQ(cache->stats().blocks, static_cast<uint64_t>(kFiles));
    }
    { ASSERT_TRUE(open()); }
    ASSERT_FALSE(indexFiles(".sst").empty()) << "no SST to damage";
    ASSERT_EQ(countFiles(opts_.dir + "/blocks"), static_cast<size_t>(kFiles));
  }

  std::vector<std::string> indexFiles(const std::string& suffixOrPrefix) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(opts_.dir + "/index")) {
      const std::string name = e.path().filename().string();
      if (name.ends_with(suffixOrPrefix) || name.starts_with(suffixOrPrefix)) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }

  std::vector<std::string> setAside() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(opts_.dir)) {
      if (e.path().filename().string().starts_with("index.corrupt-")) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }

  // Opens the damaged cache and checks it is empty, working, and the old index set aside.
  void expectFreshStart() {
    auto cache = open();
    ASSERT_TRUE(cache) << "the mount would fail";
    CacheStats s = cache->stats();
    EXPECT_EQ(s.indexResets, 1u);
    EXPECT_EQ(s.recoveredBlocks, 0u);
    EXPECT_EQ(s.blocks, 0u);
    EXPECT_EQ(countFiles(opts_.dir + "/blocks"), 0u) << "the old blocks are orphans";
    EXPECT_GE(s.orphansRemoved, static_cast<uint64_t>(kFiles));
    EXPECT_EQ(setAside().size(), 1u);
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(readAll(*cache, files_[i]), randomBytes(500, static_cast<uint64_t>(i)));
    }
    EXPECT_EQ(cache->stats().blocks, 5u);
    EXPECT_GE(s.usedBytes, testing::diskUsage(setAside().at(0)) / 2)
        << "the set-aside index counts against cache.size";
    cache.reset();
    // And the new index is a good one.
    auto again = open();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->stats().recoveredBlocks, 5u);
    EXPECT_EQ(again->stats().indexResets, 0u);
  }

  std::vector<FileRef> files_;
};

TEST_F(IndexCorruptionTest, AFlippedByteInAnSstStartsAnEmptyCache) {
  ASSERT_NO_FATAL_FAILURE(fill());
  const std::string sst = indexFiles(".sst").at(0);
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(100);
    f.write(&c, 1);
  }
  ASSERT_NO_FATAL_FAILURE(expectFreshStart());
}

TEST_F(IndexCorruptionTest, AMissingManifestStartsAnEmptyCache) {
  ASSERT_NO_FATAL_FAILURE(fill());
  for (const std::string& m : indexFiles("MANIFEST-")) fs::remove(m);
  ASSERT_NO_FATAL_FAILURE(expectFreshStart());
}

TEST_F(IndexCorruptionTest, ACurrentFileNamingNoManifestStartsAnEmptyCache) {
  ASSERT_NO_FATAL_FAILURE(fill());
  std::ofstream(opts_.dir + "/index/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  ASSERT_NO_FATAL_FAILURE(expectFreshStart());
}

TEST_F(IndexCorruptionTest, OnlyTheNewestSetAsideIndexIsKept) {
  ASSERT_NO_FATAL_FAILURE(fill());
  for (int round = 0; round < 3; ++round) {
    std::ofstream(opts_.dir + "/index/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
    // A mark inside the index being damaged now, to tell which one is kept.
    std::ofstream(opts_.dir + "/index/round") << round;
    auto cache = open();
    ASSERT_TRUE(cache);
    EXPECT_EQ(cache->stats().indexResets, 1u);
    readAll(*cache, files_[0]);
  }
  ASSERT_EQ(setAside().size(), 1u) << "disk use stays bounded";
  std::ifstream mark(setAside()[0] + "/round");
  int kept = -1;
  mark >> kept;
  EXPECT_EQ(kept, 2) << "the newest is kept";
}

}  // namespace
}  // namespace epochfs::cache::testing
