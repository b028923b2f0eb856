// MetaMeter on a scratch cache dir: what it counts, and when a measurement is due. No test
// waits for the once-a-second refresh: each checks what happens right after a measurement.
#include "cache/MetaMeter.h"

#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "cache/BlockStore.h"
#include "cache/tests/CacheTestUtil.h"

namespace epochfs::cache {
namespace {

using testing::TempDir;

constexpr uint64_t kOwn = 123'456;  // what the index and the store report for themselves
constexpr uint64_t kBig = 1024 * 1024;

// A cache dir whose index/, blocks/ and tmp/ hold a big file each, which the walk must skip
// (ownBytes covers them).
void makeCacheDir(const TempDir& dir) {
  for (const char* sub : {"index/000012.sst", "blocks/00/0000000001", "tmp/fill-7"}) {
    dir.write(sub, std::string(kBig, 'x'));
  }
}

TEST(MetaMeterTest, ADirWithOnlyTheIndexAndTheStoreMeasuresTheirOwnBytes) {
  TempDir dir;
  makeCacheDir(dir);
  int calls = 0;
  const MetaMeter m(dir.path(), [&] {
    ++calls;
    return kOwn;
  });
  EXPECT_EQ(m.measure(), kOwn);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(m.measure(), kOwn);
  EXPECT_EQ(calls, 2) << "asked again at each measurement";
}

TEST(MetaMeterTest, EverythingElseInTheDirCountsByAllocatedSize) {
  TempDir dir;
  makeCacheDir(dir);
  dir.write("LOCK", "");
  dir.write("epochfs.log", std::string(10 * 1024, 'l'));
  dir.write("leftover/old.tmp", std::string(5000, 'o'));
  dir.write("leftover/sub/deep.bin", "d");
  const MetaMeter m(dir.path(), [] { return kOwn; });
  const uint64_t files = BlockStore::allocatedBytes(10 * 1024) +  // 12 KiB
                         BlockStore::allocatedBytes(5000) +       // 8 KiB
                         BlockStore::allocatedBytes(1);           // 4 KiB, however deep
  const uint64_t got = m.measure();
  EXPECT_GE(got, kOwn + files);
  EXPECT_LT(got, kOwn + kBig) << "index/, blocks/ and tmp/ are ownBytes' to count";
}

TEST(MetaMeterTest, ASymlinkToADirIsCountedButNotFollowed) {
  TempDir dir;
  TempDir elsewhere;
  makeCacheDir(dir);
  elsewhere.write("huge.bin", std::string(kBig, 'h'));
  std::filesystem::create_directory_symlink(elsewhere.path(), dir / "link");
  const MetaMeter m(dir.path(), [] { return kOwn; });
  const uint64_t got = m.measure();
  EXPECT_GT(got, kOwn) << "the link itself";
  EXPECT_LT(got, kOwn + kBig);
}

TEST(MetaMeterTest, ADanglingSymlinkDoesNotEndTheWalk) {
  TempDir dir;
  makeCacheDir(dir);
  std::filesystem::create_symlink(dir / "gone", dir / "dangling");
  constexpr int kFiles = 20;
  for (int i = 0; i < kFiles; ++i) dir.write("stray-" + std::to_string(i), "s");
  const MetaMeter m(dir.path(), [] { return kOwn; });
  EXPECT_GE(m.measure(), kOwn + kFiles * BlockStore::allocatedBytes(1))
      << "every file is counted, whichever order the dir lists them in";
}

TEST(MetaMeterTest, TheFirstMeasurementIsDueAndTheNextOneNotRightAfter) {
  TempDir dir;
  makeCacheDir(dir);
  MetaMeter m(dir.path(), [] { return kOwn; });
  EXPECT_EQ(m.measureIfDue(false), std::optional<uint64_t>(kOwn));
  EXPECT_EQ(m.measureIfDue(false), std::nullopt);
  EXPECT_EQ(m.measureIfDue(true), std::optional<uint64_t>(kOwn)) << "forced";
  EXPECT_EQ(m.measureIfDue(false), std::nullopt);
}

TEST(MetaMeterTest, AMeasurementIsDueAgainAfterKRefreshInsertsInserts) {
  TempDir dir;
  makeCacheDir(dir);
  MetaMeter m(dir.path(), [] { return kOwn; });
  ASSERT_TRUE(m.measureIfDue(true));
  for (uint64_t i = 0; i + 1 < MetaMeter::kRefreshInserts; ++i) m.noteInsert();
  EXPECT_EQ(m.measureIfDue(false), std::nullopt) << "one insert short";
  m.noteInsert();
  EXPECT_EQ(m.measureIfDue(false), std::optional<uint64_t>(kOwn));
  EXPECT_EQ(m.measureIfDue(false), std::nullopt) << "the count starts over";
}

TEST(MetaMeterTest, AForcedMeasurementStartsTheInsertCountOver) {
  TempDir dir;
  makeCacheDir(dir);
  MetaMeter m(dir.path(), [] { return kOwn; });
  ASSERT_TRUE(m.measureIfDue(true));
  for (uint64_t i = 0; i + 1 < MetaMeter::kRefreshInserts; ++i) m.noteInsert();
  ASSERT_TRUE(m.measureIfDue(true));
  m.noteInsert();
  EXPECT_EQ(m.measureIfDue(false), std::nullopt);
}

TEST(MetaMeterTest, ADueMeasurementSeesWhatChangedInTheDir) {
  TempDir dir;
  makeCacheDir(dir);
  MetaMeter m(dir.path(), [] { return kOwn; });
  ASSERT_EQ(m.measureIfDue(true), std::optional<uint64_t>(kOwn));
  dir.write("stray.bin", std::string(20'000, 's'));
  const std::optional<uint64_t> got = m.measureIfDue(true);
  ASSERT_TRUE(got);
  EXPECT_GE(*got, kOwn + BlockStore::allocatedBytes(20'000));
  EXPECT_EQ(*got, m.measure());
}

TEST(MetaMeterTest, OnlyOneMeasurerAtATimeTheOthersGetNothing) {
  TempDir dir;
  makeCacheDir(dir);
  // A second measurement asked for while one is under way (from within it: no thread needed).
  MetaMeter* self = nullptr;
  std::optional<std::optional<uint64_t>> inner;
  MetaMeter m(dir.path(), [&] {
    if (self != nullptr && !inner) inner = self->measureIfDue(true);
    return kOwn;
  });
  self = &m;
  EXPECT_EQ(m.measureIfDue(true), std::optional<uint64_t>(kOwn));
  ASSERT_TRUE(inner);
  EXPECT_EQ(*inner, std::nullopt) << "even forced, it goes on with the previous value";
  EXPECT_EQ(m.measureIfDue(true), std::optional<uint64_t>(kOwn)) << "and the flag is down again";
}

}  // namespace
}  // namespace epochfs::cache
