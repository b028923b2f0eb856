// IndexNamespaceStore over a real Index in a scratch dir, and the one a BlockCache hands out.
#include "cache/IndexNamespaceStore.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cache/Index.h"
#include "cache/tests/BlockCacheTestFixture.h"
#include "cache/tests/CacheTestUtil.h"

namespace epochfs::cache {
namespace {

using namespace std::string_literals;

std::vector<std::string> scan(const NamespaceStore& store, std::string_view prefix) {
  std::vector<std::string> out;
  Status st = store.scanNamespace(prefix, [&](std::string_view k, std::string_view v) {
    out.push_back(std::string(k) + "=" + std::string(v));
    return true;
  });
  EXPECT_TRUE(st.isOk()) << st.toString();
  return out;
}

class IndexNamespaceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto index = Index::open(dir_.path() + "/index");
    ASSERT_TRUE(index.isOk()) << index.status().toString();
    index_ = std::move(*index);
    store_ = std::make_unique<IndexNamespaceStore>(
        index_, [this](bool force) { measurements_.push_back(force); });
  }

  testing::TempDir dir_;
  std::unique_ptr<Index> index_;
  std::vector<bool> measurements_;  // the `force` of each metaChanged call, in order
  std::unique_ptr<IndexNamespaceStore> store_;
};

TEST_F(IndexNamespaceStoreTest, RecordsAreTheIndexNamespaceRecords) {
  ASSERT_TRUE(store_->saveNamespace({{"e\0b"s, "2"}, {"e\0a"s, "1"}, {"m", "meta"}}).isOk());
  EXPECT_EQ(index_->getNamespace("m").value(), "meta") << "written to the index";
  EXPECT_EQ(store_->getNamespace("m").value(), "meta");
  EXPECT_EQ(store_->getNamespace("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(scan(*store_, "e\0"s), (std::vector<std::string>{"e\0a=1"s, "e\0b=2"s}));

  ASSERT_TRUE(index_->updateNamespace({{"e\0c"s, "3"}}).isOk());
  EXPECT_EQ(store_->getNamespace("e\0c"s).value(), "3") << "read from the index";

  ASSERT_TRUE(store_->updateNamespace({{"e\0a"s, std::nullopt}, {"m", "meta2"}}).isOk());
  EXPECT_EQ(scan(*store_, ""), (std::vector<std::string>{"e\0b=2"s, "e\0c=3"s, "m=meta2"}));
  ASSERT_TRUE(store_->saveNamespace({{"m", "meta3"}}).isOk());  // replaces everything
  EXPECT_EQ(scan(*store_, ""), (std::vector<std::string>{"m=meta3"}));
}

// The cache re-measures its metadata at once after a whole snapshot and lazily after an
// update (as BlockCacheImpl did itself before the seam); reads measure nothing.
TEST_F(IndexNamespaceStoreTest, WritesAskForAMeasurementOfTheMetadata) {
  ASSERT_TRUE(store_->saveNamespace({{"m", "meta"}}).isOk());
  EXPECT_EQ(measurements_, (std::vector<bool>{true}));
  ASSERT_TRUE(store_->updateNamespace({{"m", "meta2"}}).isOk());
  EXPECT_EQ(measurements_, (std::vector<bool>{true, false}));
  ASSERT_TRUE(store_->getNamespace("m").isOk());
  scan(*store_, "");
  EXPECT_EQ(measurements_, (std::vector<bool>{true, false})) << "reads measure nothing";
}

class CacheNamespaceStoreTest : public testing::BlockCacheTest {};

// BlockCache::namespaceStore() keeps the records in the cache dir's index: they survive a
// reopen and take room in the cache (stats().usedBytes).
TEST_F(CacheNamespaceStoreTest, RecordsLiveInTheCacheIndex) {
  const std::string big = testing::randomBytes(1024, 7);  // incompressible
  std::vector<std::pair<std::string, std::string>> records;
  for (int i = 0; i < 4000; ++i) records.emplace_back("e" + std::to_string(i), big);
  {
    auto cache = open();
    ASSERT_TRUE(cache);
    const uint64_t before = cache->stats().usedBytes;
    ASSERT_TRUE(cache->namespaceStore().saveNamespace(records).isOk());
    EXPECT_GE(cache->stats().usedBytes, before + 2 * config::kMiB)
        << "4000 records of 1 KiB count against cache.size";
  }
  auto cache = open();
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->namespaceStore().getNamespace("e17").value(), big);
  EXPECT_EQ(scan(cache->namespaceStore(), "e").size(), records.size());
}

}  // namespace
}  // namespace epochfs::cache
