#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "config/Options.h"

namespace epochfs::config {
namespace {

// Golden values: these must never change, or every existing cache would be orphaned on
// upgrade. (FNV-1a 64 of the source, xor-folded to 32 bits.)
TEST(DefaultCacheDirTest, StableAcrossRunsAndReleases) {
  EXPECT_EQ(defaultCacheDir("/data/imagenet", true, "", ""),
            "/var/cache/epochfs/imagenet-1ea9782d");
  EXPECT_EQ(defaultCacheDir("s3://bucket/train/", true, "", ""),
            "/var/cache/epochfs/train-579ecd08");
  EXPECT_EQ(defaultCacheDir("a", true, "", ""), "/var/cache/epochfs/a-296230c0");
}

TEST(DefaultCacheDirTest, SameSlugDifferentSourcesDiffer) {
  EXPECT_NE(defaultCacheDir("/a/imagenet", true, "", ""),
            defaultCacheDir("/b/imagenet", true, "", ""));
}

TEST(DefaultCacheDirTest, NonRootUsesXdgThenHome) {
  EXPECT_EQ(defaultCacheDir("/data/imagenet", false, "/xdg/", "/home/u"),
            "/xdg/epochfs/imagenet-1ea9782d");
  EXPECT_EQ(defaultCacheDir("/data/imagenet", false, "", "/home/u/"),
            "/home/u/.cache/epochfs/imagenet-1ea9782d");
  // A relative XDG_CACHE_HOME is invalid per the XDG spec and ignored.
  EXPECT_EQ(defaultCacheDir("/data/imagenet", false, "rel/cache", "/home/u"),
            "/home/u/.cache/epochfs/imagenet-1ea9782d");
  EXPECT_EQ(defaultCacheDir("/data/imagenet", false, "", "/"),
            "/.cache/epochfs/imagenet-1ea9782d");
  // Root ignores both: a system mount must not depend on who ran sudo.
  EXPECT_EQ(defaultCacheDir("/data/imagenet", true, "/xdg", "/root"),
            "/var/cache/epochfs/imagenet-1ea9782d");
}

TEST(DefaultCacheDirTest, SlugIsSafe) {
  auto leaf = [](const std::string& source) {
    const std::string dir = defaultCacheDir(source, true, "", "");
    const std::string leafWithHash = dir.substr(dir.rfind('/') + 1);
    return leafWithHash.substr(0, leafWithHash.size() - 9);  // drop "-xxxxxxxx"
  };
  EXPECT_EQ(leaf("/"), "origin");
  EXPECT_EQ(leaf(""), "origin");
  EXPECT_EQ(leaf("/data/.."), "origin");
  EXPECT_EQ(leaf("/data/.hidden"), "_hidden");
  EXPECT_EQ(leaf("/data/my set (v2)"), "my_set__v2_");
  EXPECT_EQ(leaf("s3://bucket"), "bucket");
  EXPECT_EQ(leaf("/data/" + std::string(100, 'x')), std::string(48, 'x'));
}

TEST(DefaultCacheDirTest, FromTheProcessIsAbsoluteAndMatchesTheExplicitForm) {
  const std::string dir = defaultCacheDir("/data/imagenet");
  ASSERT_FALSE(dir.empty());
  EXPECT_EQ(dir.front(), '/');
  EXPECT_EQ(dir.substr(dir.size() - 17), "imagenet-1ea9782d");
  if (geteuid() == 0) {
    EXPECT_EQ(dir, "/var/cache/epochfs/imagenet-1ea9782d");
  }
}

}  // namespace
}  // namespace epochfs::config
