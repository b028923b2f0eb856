// Large files read at random (FileGrains.h) through the BlockCache: the switch to the grain
// keeps what was cached in blocks of cache.block_size (cut from the SSD, nothing fetched
// twice), and a plan of byte ranges cuts its file at the grain of its records up front.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cache/Grain.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {
namespace {

constexpr uint64_t kBig = 1024 * 1024;   // cache.block_size here
constexpr uint64_t kRecord = 192 * 1024;  // a record: the grain for it is 64 KiB
constexpr uint64_t kRecords = 40;         // 7.5 MiB: a followed file (over two blocks)

class BlockCacheGrainTest : public BlockCacheTest {
 protected:
  BlockCacheGrainTest() {
    opts_.blockSizeBytes = kBig;
    opts_.sizeBytes = 64 * config::kMiB;  // holds the file: nothing is evicted
  }
  void SetUp() override {
    std::string bytes(kRecords * kRecord, '\0');
    std::mt19937_64 rng(7);
    for (char& c : bytes) c = static_cast<char>(rng());
    want_ = bytes;
    file_ = put("data.h5", std::move(bytes));
  }
  // Reads record `i` and checks its bytes.
  void readRecord(BlockCache& c, uint64_t i) {
    auto got = readRange(c, file_, i * kRecord, kRecord);
    ASSERT_TRUE(got.isOk()) << got.status().toString();
    ASSERT_EQ(*got, want_.substr(i * kRecord, kRecord)) << "record " << i;
  }
  std::string want_;
  FileRef file_;
};

TEST_F(BlockCacheGrainTest, AFileFoundRandomIsCutAndWhatItCachedIsNotFetchedAgain) {
  auto c = open("lru");
  ASSERT_TRUE(c);
  // Records at random until the file is found random (a dozen or so), then all of them.
  std::vector<uint64_t> order(kRecords);
  for (uint64_t i = 0; i < kRecords; ++i) order[i] = (i * 17) % kRecords;
  for (uint64_t i : order) readRecord(*c, i);
  CacheStats s = c->stats();
  ASSERT_EQ(s.randomFiles, 1u) << "40 records read at random";
  const uint64_t originBytes = s.originBytes;
  // Every byte came from the origin at most once, and little more than the file: the blocks
  // of cache.block_size fetched while the reads were followed were cut into grains, not
  // dropped and fetched again.
  EXPECT_LE(originBytes, want_.size() + 2 * kBig) << "bytes fetched twice";
  // A second pass over all records: every byte from the cache.
  for (uint64_t i : order) readRecord(*c, i);
  EXPECT_EQ(c->stats().originBytes, originBytes) << "the second pass fetched again";
  EXPECT_GT(c->stats().blocks, want_.size() / kBig + 1) << "cut into blocks of the grain";
}

TEST_F(BlockCacheGrainTest, APlanOfRangesCutsItsFileAtTheGrainOfItsRecords) {
  auto c = open("epoch");
  ASSERT_TRUE(c);
  BlockCache::PlanOrder order;
  // Records 3, 0, 1, and a range past the end.
  const std::vector<BlockCache::ByteRange> ranges = {
      {3 * kRecord, kRecord}, {0, kRecord}, {kRecord, kRecord}, {want_.size() + 1, 10}};
  c->planRanges(file_, ranges, order);
  EXPECT_EQ(c->stats().randomFiles, 1u) << "the plan set the file's grain";
  // 192 KiB records at offsets that are multiples of 64 KiB: three grains each, none shared;
  // the range past the end names nothing.
  EXPECT_EQ(order.blocks.size(), 9u);
  EXPECT_EQ(order.files, 0u) << "the caller counts files";
  // A range ending inside a grain: that grain; the next range starting in it repeats it
  // only if it is not the block the previous range ended in.
  BlockCache::PlanOrder straddle;
  c->planRanges(file_, std::vector<BlockCache::ByteRange>{{0, 100000}, {100000, 100000}},
                straddle);
  EXPECT_EQ(straddle.blocks.size(), 4u) << "grains 0, 1 | (1), 2, 3";
  EXPECT_NE(straddle.blocks[1], straddle.blocks[2]);
  // Published and read in that order: the bytes are right, and the reads are at the grain.
  ASSERT_GT(c->publishPlan(std::move(order), 1), 0u);
  readRecord(*c, 3);
  readRecord(*c, 0);
  readRecord(*c, 1);
  EXPECT_EQ(c->stats().originBytes, 3 * kRecord) << "three records' grains, no big block";
}

TEST_F(BlockCacheGrainTest, APlanOfRangesOfAFileWithRandomGrainsOffStaysAtTheBlockSize) {
  opts_.randomGrains = false;
  auto c = open("epoch");
  ASSERT_TRUE(c);
  BlockCache::PlanOrder order;
  c->planRanges(file_, std::vector<BlockCache::ByteRange>{{0, kRecord}, {6 * kRecord, kRecord}},
                order);
  EXPECT_EQ(c->stats().randomFiles, 0u);
  // Record 0 in block 0; record 6 (1152 KiB .. 1344 KiB) in block 1.
  ASSERT_EQ(order.blocks.size(), 2u);
}

}  // namespace
}  // namespace epochfs::cache::testing
