// policy/sim/Records.h: records inside one large file, in blocks of cache.block_size against
// the grain, at half-file cache (what bench/records.py measures on real mounts).
#include "policy/sim/Records.h"

#include <gtest/gtest.h>

namespace epochfs::policy::sim {
namespace {

RecordsOptions halfFileCache() {
  RecordsOptions o;
  o.records = 768;
  o.recordBytes = 192 * 1024;
  o.firstOffset = 2048;  // a header: records straddle grains, as in an HDF5 file
  o.fractions = {0.5};
  o.epochs = 4;
  o.seeds = 1;
  return o;
}

TEST(RecordsSimTest, GrainsTakeNearTheFloorWhereBlocksTakeMoreThanTheFile) {
  auto rows = runRecords(halfFileCache());
  ASSERT_TRUE(rows.isOk()) << rows.status().toString();
  ASSERT_EQ(rows->size(), 2u);
  const RecordsRow& blocks = (*rows)[0];
  const RecordsRow& grains = (*rows)[1];
  EXPECT_FALSE(blocks.grain);
  EXPECT_EQ(blocks.unitBytes, 4u << 20);
  EXPECT_TRUE(grains.grain);
  EXPECT_EQ(grains.unitBytes, 64u * 1024) << "half of 192 KiB, floored to a power of two";
  EXPECT_GT(blocks.originPerEpoch, 1.0) << "4 MiB fetched per 192 KiB record";
  EXPECT_LE(grains.originPerEpoch, 0.75);
  EXPECT_GE(grains.originPerEpoch, 0.45) << "the floor is 1 - c";
}

TEST(RecordsSimTest, APlanKeepsGrainsAtTheFloor) {
  RecordsOptions o = halfFileCache();
  o.plan = true;
  auto rows = runRecords(o);
  ASSERT_TRUE(rows.isOk()) << rows.status().toString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_LE((*rows)[1].originPerEpoch, 0.75);
  EXPECT_GT((*rows)[1].hitRatio, 0.5) << "more than c with the prefetch a plan directs";
}

TEST(RecordsSimTest, RecordsOfHalfABlockOrMoreHaveNoGrainAndBadNumbersAreRefused) {
  RecordsOptions o = halfFileCache();
  o.recordBytes = 2 << 20;
  o.records = 64;
  auto rows = runRecords(o);
  ASSERT_TRUE(rows.isOk());
  EXPECT_EQ(rows->size(), 1u) << "blocks only";
  o.fractions = {1.5};
  EXPECT_FALSE(runRecords(o).isOk());
  o = halfFileCache();
  o.epochs = 1;
  EXPECT_FALSE(runRecords(o).isOk());
}

}  // namespace
}  // namespace epochfs::policy::sim
