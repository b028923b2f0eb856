// Everything epochfs creates in a cache dir is private to its user whatever the umask: the
// cache holds the dataset's bytes, and a 0600 origin file must not become readable there.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

class CacheDirModesTest : public BlockCacheTest {
 protected:
  void SetUp() override { oldUmask_ = ::umask(022); }
  void TearDown() override { ::umask(oldUmask_); }

  static mode_t modeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  // Every directory 0700 and every file 0600 under (and including) opts_.dir; returns how many
  // files were checked. RocksDB's files (index/) are 0600 if they existed when the index was
  // opened, and those it made since may be 0644: index/ itself being 0700 is what protects them.
  size_t expectAllPrivate() {
    EXPECT_EQ(modeOf(opts_.dir), 0700u) << opts_.dir;
    size_t files = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(opts_.dir)) {
      const std::string p = e.path().string();
      if (e.path().parent_path() == opts_.dir + "/index" && !e.is_directory()) {
        EXPECT_EQ(modeOf(p) & 0022u, 0u) << p << ": never writable by others";
        continue;
      }
      if (e.is_directory()) {
        EXPECT_EQ(modeOf(p), 0700u) << p;
      } else {
        EXPECT_EQ(modeOf(p), 0600u) << p;
        ++files;
      }
    }
    return files;
  }

  mode_t oldUmask_ = 0;
};

TEST_F(CacheDirModesTest, EverythingCreatedIsPrivateUnderUmask022) {
  FileRef f = put("secret", randomBytes(3 * kBlock, 1));
  {
    auto cache = open();
    ASSERT_TRUE(cache);
    ASSERT_EQ(readAll(*cache, f).size(), f.size);
    ASSERT_EQ(cache->stats().blocks, 3u);
    ASSERT_TRUE(cache->namespaceStore().saveNamespace({{"k", "v"}}).isOk());
  }
  // The file's blocks are in one object file (BlockStore.h).
  EXPECT_EQ(filesUnder(opts_.dir + "/blocks").size(), 1u);
  EXPECT_EQ(countBlocks(opts_.dir + "/blocks", kBlock), 3u);
  const size_t files = expectAllPrivate();
  EXPECT_GE(files, 1u + 1u) << "the object file and LOCK";
}

// A dir made by an older version (or by hand) with 0755/0644: made private at open.
TEST_F(CacheDirModesTest, AnExistingWorldReadableDirIsMadePrivateAtOpen) {
  FileRef f = put("secret", randomBytes(kBlock, 2));
  {
    auto first = open();
    ASSERT_TRUE(first);
    ASSERT_EQ(readAll(*first, f).size(), f.size);
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(opts_.dir)) {
    ::chmod(e.path().c_str(), e.is_directory() ? 0755 : 0644);
  }
  ::chmod(opts_.dir.c_str(), 0755);
  auto cache = open();
  ASSERT_TRUE(cache);
  EXPECT_EQ(modeOf(opts_.dir), 0700u) << "the root alone denies access to all below";
  EXPECT_EQ(modeOf(opts_.dir + "/blocks"), 0700u);
  EXPECT_EQ(modeOf(opts_.dir + "/tmp"), 0700u);
  EXPECT_EQ(modeOf(opts_.dir + "/index"), 0700u);
  EXPECT_EQ(modeOf(opts_.dir + "/LOCK"), 0600u);
  EXPECT_EQ(modeOf(opts_.dir + "/index/CURRENT"), 0600u) << "files there at open are made 0600";
  EXPECT_EQ(modeOf(filesUnder(opts_.dir + "/blocks").at(0)), 0644u)
      << "an old block file keeps its mode: the dirs above it deny access";
  cache.reset();
}

}  // namespace
}  // namespace epochfs::cache::testing
