#include <cmath>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/testing/TempDir.h"
#include "config/ConfigLoader.h"

namespace epochfs::config {
namespace {

MountOptions withSource(std::string source = "/data/imagenet") {
  MountOptions o;
  o.origin.source = std::move(source);
  return o;
}

std::string validateError(MountOptions o) {
  const Status s = validate(o);
  if (s.isOk()) {
    ADD_FAILURE() << "expected validate() to fail";
    return "";
  }
  EXPECT_EQ(s.code(), Code::kInvalid);
  return s.message();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ValidateTest, DefaultsWithASourcePass) {
  MountOptions o = withSource();
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.cache.dir, defaultCacheDir("/data/imagenet"));
  EXPECT_EQ(o.log.file, o.cache.dir + "/epochfs.log");
}

TEST(ValidateTest, MetadataTtlDefaultsBySource) {
  MountOptions dir = withSource();
  ASSERT_TRUE(validate(dir).isOk());
  EXPECT_EQ(dir.metadata.ttlSec, 0.0);
  MountOptions s3 = withSource("s3://bucket/prefix");
  ASSERT_TRUE(validate(s3).isOk());
  EXPECT_EQ(s3.metadata.ttlSec, kTtlImmutable);
  MountOptions set = withSource("s3://bucket");
  set.metadata.ttlSec = 30;
  ASSERT_TRUE(validate(set).isOk());
  EXPECT_EQ(set.metadata.ttlSec, 30.0);
}

TEST(ValidateTest, IsIdempotent) {
  MountOptions o = withSource("data/x/");
  ASSERT_TRUE(validate(o).isOk());
  MountOptions again = o;
  ASSERT_TRUE(validate(again).isOk());
  EXPECT_EQ(again.origin.source, o.origin.source);
  EXPECT_EQ(again.cache.dir, o.cache.dir);
  EXPECT_EQ(again.log.file, o.log.file);
}

TEST(ValidateTest, SourceIsRequired) {
  EXPECT_EQ(validateError(MountOptions()), "no origin: give SOURCE or origin.source in the config");
}

TEST(ValidateTest, RelativeSourceBecomesAbsoluteAndNormal) {
  MountOptions o = withSource("data/./imagenet/");
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.origin.source, (std::filesystem::current_path() / "data/imagenet").string());
  // Spelling the same directory differently shares the cache.
  MountOptions other = withSource(o.origin.source + "/");
  ASSERT_TRUE(validate(other).isOk());
  EXPECT_EQ(other.cache.dir, o.cache.dir);
}

TEST(ValidateTest, UrlSourceIsKeptVerbatim) {
  MountOptions o = withSource("s3://bucket/train/");
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.origin.source, "s3://bucket/train/");
  EXPECT_EQ(o.cache.dir, defaultCacheDir("s3://bucket/train/"));
}

TEST(ValidateTest, ExplicitPathsAreMadeAbsolute) {
  MountOptions o = withSource();
  o.cache.dir = "cachedir/";
  o.log.file = "logs/e.log";
  ASSERT_TRUE(validate(o).isOk());
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(o.cache.dir, cwd + "/cachedir");
  EXPECT_EQ(o.log.file, cwd + "/logs/e.log");
}

TEST(ValidateTest, ForegroundWithoutLogFileMeansStderr) {
  MountOptions o = withSource();
  o.foreground = true;
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.log.file, "");
}

TEST(ValidateTest, LogFileFollowsAnExplicitCacheDir) {
  MountOptions o = withSource();
  o.cache.dir = "/ssd/c";
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.log.file, "/ssd/c/epochfs.log");
}

TEST(ValidateTest, PolicyName) {
  MountOptions o = withSource();
  o.policy.name = "LRU";
  EXPECT_EQ(validateError(o), "policy.name: 'LRU' is not a policy (known: epoch, lru, fixed)");
  o.policy.name = "fixed";
  EXPECT_TRUE(validate(o).isOk());
}

// "planned" is a policy (policy::makePolicy() builds it) that a mount does not offer: it needs
// a plan, and the mount's "epoch" follows one whenever it is published.
TEST(ValidateTest, PolicyNameIsOneAMountMayRun) {
  MountOptions o = withSource();
  for (const char* name : {"epoch", "lru", "fixed"}) {
    o.policy.name = name;
    EXPECT_TRUE(validate(o).isOk()) << name;
  }
  o.policy.name = "planned";
  EXPECT_EQ(validateError(o),
            "policy.name: 'planned' is not a policy (known: epoch, lru, fixed)");
  EXPECT_EQ(MountOptions{}.policy.name, "epoch");
}

TEST(ValidateTest, FuseThreadsRange) {
  MountOptions o = withSource();
  o.fuse.threads = 0;
  EXPECT_EQ(validateError(o), "fuse.threads: 0 is out of range (1..1024)");
  o.fuse.threads = 1025;
  EXPECT_EQ(validateError(o), "fuse.threads: 1025 is out of range (1..1024)");
  o.fuse.threads = 1024;
  EXPECT_TRUE(validate(o).isOk());
}

TEST(ValidateTest, PrefetchThreads) {
  MountOptions o = withSource();
  o.policy.prefetchThreads = -2;  // -1 is auto
  EXPECT_EQ(validateError(o), "policy.prefetch_threads: -2 is out of range (0..256)");
  o.policy.prefetchThreads = 0;
  EXPECT_TRUE(validate(o).isOk());
  o.policy.prefetchThreads = 64;  // a directory origin has no connection limit
  EXPECT_TRUE(validate(o).isOk());
  o.origin.source = "s3://bucket/prefix";
  o.origin.s3.maxConnections = 64;
  EXPECT_EQ(validateError(o),
            "policy.prefetch_threads: 64 must be below s3.max_connections (64), or prefetch "
            "never starts; 0 turns it off");
  o.origin.s3.maxConnections = 65;
  EXPECT_TRUE(validate(o).isOk());
}

TEST(ValidateTest, PrefetchThreadsAutoFollowsTheOrigin) {
  MountOptions o = withSource();
  ASSERT_EQ(o.policy.prefetchThreads, kPrefetchThreadsAuto) << "the default";
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.policy.prefetchThreads, kDirPrefetchThreads);
  for (auto [connections, threads] : {std::pair{32, 24}, {64, 48}, {4, 3}, {1, 0}}) {
    MountOptions s = withSource();
    s.origin.source = "s3://bucket";
    s.origin.s3.maxConnections = connections;
    ASSERT_TRUE(validate(s).isOk()) << connections;
    EXPECT_EQ(s.policy.prefetchThreads, threads) << connections;
  }
}

TEST(ValidateTest, AttrTimeout) {
  MountOptions o = withSource();
  o.fuse.attrTimeoutSec = -1;
  EXPECT_EQ(validateError(o), "fuse.attr_timeout: -1 is not a number of seconds >= 0");
  o.fuse.attrTimeoutSec = std::nan("");
  EXPECT_TRUE(contains(validateError(o), "fuse.attr_timeout: "));
  o.fuse.attrTimeoutSec = INFINITY;
  EXPECT_TRUE(contains(validateError(o), "fuse.attr_timeout: "));
  o.fuse.attrTimeoutSec = 0;
  EXPECT_TRUE(validate(o).isOk());
}

TEST(ValidateTest, BlockSize) {
  MountOptions o = withSource();
  o.cache.blockSizeBytes = 32 * kKiB;
  EXPECT_EQ(validateError(o), "cache.block_size: 32 KiB is out of range (64 KiB .. 256 MiB)");
  o.cache.blockSizeBytes = 512 * kMiB;
  EXPECT_TRUE(contains(validateError(o), "cache.block_size: 512 MiB is out of range"));
  o.cache.blockSizeBytes = 96 * kKiB;
  EXPECT_EQ(validateError(o), "cache.block_size: 96 KiB (98304 bytes) is not a multiple of 64 KiB");
  for (uint64_t good : {64 * kKiB, 1 * kMiB, 256 * kMiB}) {
    o.cache.blockSizeBytes = good;
    EXPECT_TRUE(validate(o).isOk()) << good;
  }
}

TEST(ValidateTest, CacheSizeMinimum) {
  MountOptions o = withSource();
  o.cache.sizeBytes = 16 * kMiB - 1;
  EXPECT_EQ(validateError(o),
            "cache.size: 16 MiB is too small (at least 16 MiB: 4 blocks of cache.block_size and no "
            "less than 16 MiB)");
  o.cache.sizeBytes = 16 * kMiB;
  EXPECT_TRUE(validate(o).isOk());
  // Bigger blocks need a bigger cache: 4 x 64 MiB.
  o.cache.blockSizeBytes = 64 * kMiB;
  EXPECT_TRUE(contains(validateError(o), "cache.size: 16 MiB is too small (at least 256 MiB"));
  o.cache.sizeBytes = 256 * kMiB;
  EXPECT_TRUE(validate(o).isOk());
}

TEST(ValidateTest, LogLevel) {
  MountOptions o = withSource();
  o.log.level = "warning";
  EXPECT_EQ(validateError(o),
            "log.level: 'warning' is not a log level (use one of trace, debug, info, warn, error, "
            "off)");
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    o.log.level = level;
    EXPECT_TRUE(validate(o).isOk()) << level;
  }
}

TEST(ValidateTest, TildeIsNotExpanded) {
  MountOptions o = withSource("~/data");
  EXPECT_EQ(validateError(o),
            "origin.source: '~/data': '~' is not expanded here; write the full path");
  o = withSource();
  o.cache.dir = "~/c";
  EXPECT_TRUE(contains(validateError(o), "cache.dir: '~/c'"));
}

TEST(ValidateTest, CacheDirMustNotBeInsideTheMountOrTheSource) {
  MountOptions o = withSource("/data/imagenet");
  o.mountpoint = "/mnt/imagenet";
  o.cache.dir = "/mnt/imagenet/.cache";
  const std::string msg = validateError(o);
  EXPECT_TRUE(contains(
      msg, "cache.dir: '/mnt/imagenet/.cache' is inside the mountpoint '/mnt/imagenet'"))
      << msg;
  EXPECT_TRUE(
      contains(msg, "log.file: '/mnt/imagenet/.cache/epochfs.log' is inside the mountpoint"))
      << msg;

  o.cache.dir = "/data/imagenet/cache";
  EXPECT_EQ(validateError(o),
            "cache.dir: '/data/imagenet/cache' is inside origin.source '/data/imagenet'");
  o.cache.dir = "/data";
  EXPECT_EQ(validateError(o), "cache.dir: '/data' contains origin.source '/data/imagenet'");
  // A sibling with a common prefix is fine.
  o.cache.dir = "/data/imagenet-cache";
  o.mountpoint = "/mnt/imagenet";
  EXPECT_TRUE(validate(o).isOk());
  o.cache.dir = "/mnt/imagenet2";
  EXPECT_TRUE(validate(o).isOk());
}

// Overlaps are found with symlinks resolved: a link reaches the directory it points to.
class ValidateOverlapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "data/sub");
    std::filesystem::create_directories(dir_ / "mnt");
    std::filesystem::create_directories(dir_ / "ssd");
    std::filesystem::create_directory_symlink(dir_ / "data", dir_ / "data-link");
    std::filesystem::create_directory_symlink(dir_ / "mnt", dir_ / "mnt-link");
    std::filesystem::create_directory_symlink(dir_ / "data/sub", dir_ / "ssd/into-data");
  }
  MountOptions opts(const std::string& source, const std::string& mnt) const {
    MountOptions o = withSource(dir_ / source);
    o.mountpoint = dir_ / mnt;
    o.cache.dir = dir_ / "ssd/cache";
    o.log.file = dir_ / "ssd/log";
    return o;
  }
  test::TempDir dir_;
};

TEST_F(ValidateOverlapTest, DistinctDirectoriesPass) {
  MountOptions o = opts("data", "mnt");
  EXPECT_TRUE(validate(o).isOk()) << validate(o).message();
}

TEST_F(ValidateOverlapTest, MountpointEqualToTheSourceIsRefused) {
  EXPECT_EQ(validateError(opts("data", "data")),
            "MOUNTPOINT: '" + (dir_ / "data") + "' is origin.source '" + (dir_ / "data") +
                "': a directory mounted on itself deadlocks at the first lookup; mount it on "
                "another directory");
  // Through a symlink: the same directory.
  const std::string msg = validateError(opts("data-link", "data"));
  EXPECT_TRUE(contains(msg, "MOUNTPOINT: '" + (dir_ / "data") + "' is origin.source '" +
                                (dir_ / "data-link") + "' (resolved: '" + (dir_ / "data") +
                                "')"))
      << msg;
}

TEST_F(ValidateOverlapTest, MountpointInsideTheSourceIsRefused) {
  const std::string msg = validateError(opts("data", "data-link/sub"));
  EXPECT_TRUE(contains(msg, "MOUNTPOINT: '" + (dir_ / "data-link/sub") + "' (resolved: '" +
                                (dir_ / "data/sub") + "') is inside origin.source '" +
                                (dir_ / "data") + "': the mount would contain itself"))
      << msg;
}

TEST_F(ValidateOverlapTest, SourceInsideTheMountpointIsRefused) {
  const std::string msg = validateError(opts("data/sub", "data-link"));
  EXPECT_TRUE(contains(msg, "origin.source: '" + (dir_ / "data/sub") +
                                "' is inside the mountpoint '" + (dir_ / "data-link") +
                                "' (resolved: '" + (dir_ / "data") + "'): the mount would hide it"))
      << msg;
}

TEST_F(ValidateOverlapTest, CacheDirThroughASymlinkIntoTheSourceIsRefused) {
  MountOptions o = opts("data", "mnt");
  o.cache.dir = dir_ / "ssd/into-data";
  EXPECT_EQ(validateError(o), "cache.dir: '" + (dir_ / "ssd/into-data") + "' (resolved: '" +
                                  (dir_ / "data/sub") + "') is inside origin.source '" +
                                  (dir_ / "data") + "'");
  o.cache.dir = dir_ / "ssd/into-data/deeper";  // not created yet: resolved as far as it exists
  EXPECT_TRUE(contains(validateError(o), "is inside origin.source")) << validateError(o);
  o.cache.dir = dir_ / "data-link";
  EXPECT_TRUE(contains(validateError(o), "cache.dir: '" + (dir_ / "data-link") +
                                             "' (resolved: '" + (dir_ / "data") +
                                             "') is inside origin.source"))
      << validateError(o);
}

TEST_F(ValidateOverlapTest, CacheDirThroughASymlinkIntoTheMountpointIsRefused) {
  MountOptions o = opts("data", "mnt");
  o.cache.dir = dir_ / "mnt-link/cache";
  EXPECT_EQ(validateError(o), "cache.dir: '" + (dir_ / "mnt-link/cache") + "' (resolved: '" +
                                  (dir_ / "mnt/cache") + "') is inside the mountpoint '" +
                                  (dir_ / "mnt") + "'");
  o.cache.dir = dir_ / "mnt-link";
  EXPECT_TRUE(contains(validateError(o), "is inside the mountpoint")) << validateError(o);
  o.cache.dir = dir_.path();
  EXPECT_TRUE(contains(validateError(o), "contains the mountpoint")) << validateError(o);
}

TEST_F(ValidateOverlapTest, LogFileThroughASymlinkIntoTheMountpointIsRefused) {
  MountOptions o = opts("data", "mnt");
  o.log.file = dir_ / "mnt-link/epochfs.log";
  EXPECT_EQ(validateError(o), "log.file: '" + (dir_ / "mnt-link/epochfs.log") +
                                  "' (resolved: '" + (dir_ / "mnt/epochfs.log") +
                                  "') is inside the mountpoint '" + (dir_ / "mnt") + "'");
}

TEST(ValidateTest, ReportsEveryProblemOnItsOwnLine) {
  MountOptions o;
  o.fuse.threads = -3;
  o.log.level = "loud";
  EXPECT_EQ(validateError(o),
            "no origin: give SOURCE or origin.source in the config\n"
            "log.level: 'loud' is not a log level (use one of trace, debug, info, warn, error, "
            "off)\n"
            "fuse.threads: -3 is out of range (1..1024)");
}

TEST(ValidateTest, FileThenFlagsThenValidate) {
  // The order cli/ uses: a bad file value can be fixed by a flag before validate().
  MountOptions o;
  ASSERT_TRUE(loadConfigText("origin: {source: /d}\ncache: {size: 1GiB}\npolicy: {name: fixed}\n",
                             "x.yaml", o)
                  .isOk());
  o.policy.name = "lru";  // --policy lru
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.policy.name, "lru");
  EXPECT_EQ(o.cache.sizeBytes, kGiB);
}

}  // namespace
}  // namespace epochfs::config
