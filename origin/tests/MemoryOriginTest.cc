// origin/tests/MemoryOriginTest.cc: the contract over MemoryOrigin, plus its test-double API.
#include "origin/testing/MemoryOrigin.h"

#include <gtest/gtest.h>

#include "origin/tests/OriginContract.h"

namespace epochfs::origin {
namespace {

class MemoryEnv final : public OriginEnv {
 public:
  explicit MemoryEnv(const OriginFiles& files) {
    for (const auto& [key, bytes] : files) origin_.put(key, bytes);
  }
  Origin& origin() override { return origin_; }
  void rewrite(const std::string& key, const std::string& bytes) override {
    origin_.put(key, bytes);
  }

 private:
  MemoryOrigin origin_;
};

INSTANTIATE_TEST_SUITE_P(Memory, OriginContractTest,
                         ::testing::Values(OriginImpl{
                             "Memory",
                             [](const OriginFiles& files) -> std::unique_ptr<OriginEnv> {
                               return std::make_unique<MemoryEnv>(files);
                             }}),
                         originImplName);

TEST(MemoryOriginTest, EmptyOriginHasAnEmptyRoot) {
  MemoryOrigin o;
  Result<ObjectInfo> root = o.stat("");
  ASSERT_TRUE(root.isOk());
  EXPECT_EQ(root->type, EntryType::kDirectory);
  Result<std::vector<DirEntry>> entries = o.list("");
  ASSERT_TRUE(entries.isOk());
  EXPECT_TRUE(entries->empty());
}

TEST(MemoryOriginTest, PutGivesANewEtagEachTime) {
  MemoryOrigin o;
  o.put("a", "1");
  o.put("b", "1");
  EXPECT_EQ(o.stat("a")->etag, "v1");
  EXPECT_EQ(o.stat("b")->etag, "v2");
  o.put("a", "1");  // same bytes, still a new version
  EXPECT_EQ(o.stat("a")->etag, "v3");
}

TEST(MemoryOriginTest, RemoveDropsTheFileAndItsEmptyParents) {
  MemoryOrigin o;
  o.put("d/e/f", "x");
  EXPECT_TRUE(o.remove("d/e/f"));
  EXPECT_FALSE(o.remove("d/e/f"));
  EXPECT_EQ(o.stat("d/e/f").status().code(), Code::kNotFound);
  EXPECT_EQ(o.stat("d").status().code(), Code::kNotFound);
  EXPECT_EQ(o.list("d").status().code(), Code::kNotFound);
}

TEST(MemoryOriginTest, CountsReadCalls) {
  MemoryOrigin o;
  o.put("a", "abc");
  std::vector<std::byte> buf(2);
  EXPECT_EQ(o.readCalls(), 0u);
  ASSERT_TRUE(o.read("a", "v1", 0, buf).isOk());
  EXPECT_FALSE(o.read("a", "v9", 0, buf).isOk());
  EXPECT_EQ(o.readCalls(), 2u);
}

TEST(MemoryOriginDeathTest, PutOfAFileAndADirectoryWithOneNameAborts) {
  EXPECT_DEATH(
      {
        MemoryOrigin o;
        o.put("a/b", "x");
        o.put("a", "y");
      },
      "already a directory");
  EXPECT_DEATH(
      {
        MemoryOrigin o;
        o.put("a", "y");
        o.put("a/b", "x");
      },
      "below the file");
  EXPECT_DEATH(
      {
        MemoryOrigin o;
        o.put("a/../b", "x");
      },
      "malformed");
}

}  // namespace
}  // namespace epochfs::origin
