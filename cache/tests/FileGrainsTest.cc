// Files read at random are cut at a grain (cache/FileGrains.h, cache/Grain.h): the detector
// on its own, and through a BlockCache: the bytes, what the origin carries per record, the
// grain kept across a reopen, the epoch clock counting passes over the records, sequential
// readers left at cache.block_size.
#include "cache/FileGrains.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cache/Grain.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

TEST(GrainTest, BlockNumbersCarryTheirGrain) {
  const uint64_t no = grain::make(17, 5);
  EXPECT_EQ(grain::shiftOf(no), 17u);
  EXPECT_EQ(grain::indexOf(no), 5u);
  EXPECT_EQ(grain::bytesOf(no, 4 * kMiB), 128u * 1024);
  EXPECT_EQ(grain::startOf(no, 4 * kMiB), 5u * 128 * 1024);
  EXPECT_EQ(grain::startOf(5, 4 * kMiB), 20 * kMiB) << "top byte 0: cache.block_size";
  EXPECT_TRUE(grain::valid(5));
  EXPECT_TRUE(grain::valid(no));
  EXPECT_FALSE(grain::valid(grain::make(3, 1))) << "below 64 KiB";
  EXPECT_FALSE(grain::valid(uint64_t{200} << grain::kShiftBit));
}

FileGrainsOptions grainOpts(uint64_t fixed = 0, bool enabled = true) {
  return {4 * kMiB, enabled, fixed};
}

// Feeds `n` reads of `len` bytes at random offsets of a file of `size`; the shift decided.
unsigned readRandomly(FileGrains& g, const std::string& key, uint64_t size, uint64_t len, int n,
                      bool* switchedOnce = nullptr) {
  std::mt19937_64 rng(7);
  unsigned shift = 0;
  int switches = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t off = rng() % (size - len);
    const FileGrains::Grain r = g.onRead(key, size, off, len);
    shift = r.shift;
    switches += r.switched ? 1 : 0;
  }
  if (switchedOnce != nullptr) *switchedOnce = switches == 1;
  return shift;
}

TEST(FileGrainsTest, RandomReadsOfALargeFileCutItAtHalfTheirSize) {
  FileGrains g(grainOpts());
  bool once = false;
  EXPECT_EQ(readRandomly(g, "h5", 300 * kMiB, 192 * 1024, 11), 0u) << "not decided yet";
  EXPECT_EQ(readRandomly(g, "h5b", 300 * kMiB, 192 * 1024, 40, &once), 16u)
      << "192 KiB requests: 64 KiB grains";
  EXPECT_TRUE(once) << "the switch is reported once";
  EXPECT_EQ(g.shiftOf("h5b"), 16u);
  EXPECT_EQ(readRandomly(g, "npy", 300 * kMiB, 1 * kMiB, 24), 19u) << "1 MiB records: 512 KiB";
  EXPECT_EQ(g.randomFiles(), 2u);
}

TEST(FileGrainsTest, RecordsReadPageByPageAreRunsOfPages) {
  // A reader through mmap (LMDB with readahead off): each 108 KiB value is 27 page faults in
  // order, 4 KiB each, the values at random.
  FileGrains g(grainOpts());
  std::mt19937_64 rng(3);
  unsigned shift = 0;
  for (int v = 0; v < 40 && shift == 0; ++v) {
    const uint64_t at = (rng() % 2000) * 108 * 1024;
    for (uint64_t p = 0; p < 27; ++p) {
      shift = g.onRead("data.mdb", 300 * kMiB, at + p * 4096, 4096).shift;
    }
  }
  EXPECT_EQ(shift, 16u) << "runs of 108 KiB: 64 KiB grains";
}

TEST(FileGrainsTest, SequentialReadersAndSmallFilesKeepTheBlockSize) {
  FileGrains g(grainOpts());
  for (uint64_t off = 0; off < 64 * kMiB; off += 128 * 1024) {
    EXPECT_EQ(g.onRead("tar", 64 * kMiB, off, 128 * 1024).shift, 0u);
  }
  // Two streams of one file, interleaved a read apart: each read is near one of them only
  // every other time, but close enough to the other's end not to be far (4 MiB).
  for (uint64_t off = 0; off < 32 * kMiB; off += 1 * kMiB) {
    EXPECT_EQ(g.onRead("two", 256 * kMiB, off, 1 * kMiB).shift, 0u);
    EXPECT_EQ(g.onRead("two", 256 * kMiB, off + 2 * kMiB, 1 * kMiB).shift, 0u);
  }
  EXPECT_EQ(readRandomly(g, "small", 8 * kMiB, 64 * 1024, 40), 0u) << "two blocks: not followed";
  EXPECT_EQ(readRandomly(g, "bigreads", 300 * kMiB, 2 * kMiB, 40), 0u)
      << "requests of half a block: blocks fit them";
  EXPECT_EQ(g.randomFiles(), 0u);
}

TEST(FileGrainsTest, OffNeverCutsAndAFixedGrainIsUsed) {
  FileGrains off(grainOpts(0, false));
  EXPECT_EQ(readRandomly(off, "h5", 300 * kMiB, 192 * 1024, 40), 0u);
  FileGrains fixed(grainOpts(256 * 1024));
  EXPECT_EQ(readRandomly(fixed, "h5", 300 * kMiB, 8 * 1024, 40), 18u);
  EXPECT_EQ(fixed.shiftForRecords(1), 18u);
}

TEST(FileGrainsTest, SetMakesAFileRandomAtOnce) {
  FileGrains g(grainOpts());
  g.set("f", 17);
  EXPECT_EQ(g.onRead("f", 300 * kMiB, 0, 4096).shift, 17u);
  g.set("g", 0);
  EXPECT_EQ(g.shiftOf("g"), 0u);
}

// Through a cache of 1 MiB blocks: records of 96 KiB, 64 KiB grains, so that most grains are
// shared by two records.
class GrainedCacheTest : public BlockCacheTest {
 protected:
  static constexpr uint64_t kRecord = 96 * 1024;
  static constexpr uint64_t kRecords = 128;  // 12 MiB
  GrainedCacheTest() {
    opts_.blockSizeBytes = 1 * kMiB;
    opts_.sizeBytes = 64 * kMiB;
  }
  void SetUp() override {
    bytes_ = randomBytes(kRecords * kRecord, 3);
    file_ = put("data.h5", bytes_);
  }
  // One pass over the records in a random order, every byte checked; the origin bytes it took.
  uint64_t pass(BlockCache& c, uint64_t seed) {
    std::vector<uint64_t> order(kRecords);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    const uint64_t before = c.stats().originBytes;
    for (uint64_t r : order) {
      auto got = readRange(c, file_, r * kRecord, kRecord);
      EXPECT_TRUE(got.isOk());
      if (got.isOk() && *got != bytes_.substr(r * kRecord, kRecord)) {
        ADD_FAILURE() << "record " << r << " differs";
      }
    }
    return c.stats().originBytes - before;
  }
  std::string bytes_;
  FileRef file_;
};

TEST_F(GrainedCacheTest, ARandomReaderGetsSmallBlocksAndTheEpochsItRead) {
  auto cache = open("epoch");
  const uint64_t first = pass(*cache, 1);
  EXPECT_EQ(cache->stats().randomFiles, 1u);
  // The first 16 reads fetch 1 MiB blocks (dropped at the switch), the rest 64 KiB grains.
  EXPECT_LT(first, 16 * kMiB + file_.size) << "not a 1 MiB block per record";
  EXPECT_EQ(cache->stats().epoch, 1u);
  // The records read before the switch were read from 1 MiB blocks: their grains come now.
  EXPECT_LT(pass(*cache, 2), 16 * (kRecord + 64 * 1024));
  EXPECT_EQ(cache->stats().epoch, 2u);
  EXPECT_EQ(pass(*cache, 3), 0u) << "the cache holds the file";
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.epoch, 3u) << "three passes over the records are three epochs";
  EXPECT_EQ(s.blocks, file_.size / (64 * 1024)) << "every 64 KiB grain, no 1 MiB block";
}

TEST_F(GrainedCacheTest, TheGrainOutlivesAReopen) {
  {
    auto cache = open("epoch");
    pass(*cache, 1);
    pass(*cache, 2);  // the grains of the records read before the switch
    ASSERT_EQ(cache->stats().randomFiles, 1u);
  }
  auto cache = open("epoch");
  EXPECT_EQ(cache->stats().randomFiles, 1u) << "found from the grains on disk";
  EXPECT_EQ(cache->stats().recoveredBlocks, file_.size / (64 * 1024));
  EXPECT_EQ(pass(*cache, 3), 0u) << "read from the grains recovered";
}

TEST_F(GrainedCacheTest, AfterTheSwitchARecordMissCostsItsGrainsNotABlock) {
  auto cache = open("epoch");
  std::mt19937_64 rng(9);
  for (int i = 0; i < 64 && cache->stats().randomFiles == 0; ++i) {  // until it decides
    ASSERT_TRUE(readRange(*cache, file_, (rng() % (kRecords - 1)) * kRecord, kRecord).isOk());
  }
  ASSERT_EQ(cache->stats().randomFiles, 1u);
  const uint64_t before = cache->stats().originBytes;
  // A record no read has touched: the 64 KiB grains it spans (2 or 3), not 1 MiB.
  const uint64_t off = file_.size - kRecord;
  ASSERT_EQ(*readRange(*cache, file_, off, kRecord), bytes_.substr(off));
  EXPECT_LE(cache->stats().originBytes - before, 3 * 64 * 1024);
}

TEST_F(GrainedCacheTest, ASequentialReaderKeepsTheBlockSize) {
  auto cache = open("epoch");
  EXPECT_EQ(readAll(*cache, file_), bytes_);
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.randomFiles, 0u);
  EXPECT_EQ(s.blocks, 12u);
}

// A file read in order by a stream whose requests arrive reordered inside each block (the
// kernel's read-ahead served by several FUSE threads, several shards streamed at once): each
// pass reads each block once, so two passes are two epochs.
TEST_F(GrainedCacheTest, ASequentialFileIsReadOncePerPassHoweverItsRequestsAreReordered) {
  auto cache = open("epoch");
  constexpr uint64_t kPiece = 256 * 1024;
  for (int p = 0; p < 2; ++p) {
    for (uint64_t block = 0; block * kMiB < file_.size; ++block) {
      for (uint64_t piece : {1, 2, 3, 0}) {  // its start last
        const uint64_t off = block * kMiB + piece * kPiece;
        if (off >= file_.size) continue;
        auto got = readRange(*cache, file_, off, kPiece);
        ASSERT_TRUE(got.isOk());
        ASSERT_EQ(*got, bytes_.substr(off, kPiece)) << "at " << off;
      }
    }
  }
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.randomFiles, 0u);
  EXPECT_EQ(s.epoch, 2u) << "two passes";
  EXPECT_EQ(s.originBytes, file_.size) << "the cache holds the file";
}

}  // namespace
}  // namespace epochfs::cache::testing
