#include "cache/Checksum.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include "cache/tests/CacheTestUtil.h"

namespace epochfs::cache {
namespace {

using testing::asBytes;
using testing::randomBytes;

TEST(ChecksumTest, KnownVector) {
  EXPECT_EQ(xxh3({}), 0x2D06800538D394C2ULL);
  // Different bytes, different sums (not a property of the hash, but of a wiring mistake).
  EXPECT_NE(xxh3(asBytes("a")), xxh3(asBytes("b")));
}

// Checksums in an index written by a build that hashed with the library's plain (SSE2) XXH3
// must still match: the vectorised path must give the same value for every length class
// (XXH3 switches code paths at 16, 128 and 240 bytes, and works in 1 KiB stripes).
TEST(ChecksumTest, SameValuesAsThePlainLibraryHash) {
  for (size_t len : {size_t{0}, size_t{1}, size_t{3}, size_t{16}, size_t{17}, size_t{128},
                     size_t{129}, size_t{240}, size_t{241}, size_t{1024}, size_t{1025},
                     size_t{kChecksumChunk - 1}, size_t{kChecksumChunk}, size_t{1} << 20}) {
    const std::string data = randomBytes(len, 7 + len);
    EXPECT_EQ(xxh3(asBytes(data)), XXH3_64bits(data.data(), data.size())) << len << " bytes";
  }
}

TEST(ChecksumTest, ChunkCounts) {
  EXPECT_EQ(chunkCount(0), 0u);
  EXPECT_EQ(chunkCount(1), 1u);
  EXPECT_EQ(chunkCount(kChecksumChunk), 1u);
  EXPECT_EQ(chunkCount(kChecksumChunk + 1), 2u);
  EXPECT_EQ(chunkChecksums(asBytes(randomBytes(3 * kChecksumChunk + 5, 1))).size(), 4u);
  EXPECT_TRUE(chunkChecksums({}).empty());
}

TEST(ChecksumTest, VerifiesWholeBlockAndSlices) {
  std::string block = randomBytes(3 * kChecksumChunk + 100, 2);
  auto sums = chunkChecksums(asBytes(block));
  auto b = asBytes(block);
  EXPECT_TRUE(verifyChunks(sums, 0, b));
  EXPECT_TRUE(verifyChunks(sums, 1, b.subspan(kChecksumChunk, kChecksumChunk)));
  EXPECT_TRUE(verifyChunks(sums, 3, b.subspan(3 * kChecksumChunk)));  // the short last chunk
  EXPECT_TRUE(verifyChunks(sums, 2, b.subspan(2 * kChecksumChunk)));
  // Wrong chunk number, or past the end of the block.
  EXPECT_FALSE(verifyChunks(sums, 0, b.subspan(kChecksumChunk, kChecksumChunk)));
  EXPECT_FALSE(verifyChunks(sums, 4, b.subspan(0, 10)));
  // A truncated last chunk does not verify.
  EXPECT_FALSE(verifyChunks(sums, 3, b.subspan(3 * kChecksumChunk, 50)));
}

TEST(ChecksumTest, DetectsAFlippedByteOnlyInItsChunk) {
  std::string block = randomBytes(2 * kChecksumChunk, 3);
  auto sums = chunkChecksums(asBytes(block));
  block[kChecksumChunk + 7] ^= 0x01;
  auto b = asBytes(block);
  EXPECT_FALSE(verifyChunks(sums, 0, b));
  EXPECT_TRUE(verifyChunks(sums, 0, b.subspan(0, kChecksumChunk)));
  EXPECT_FALSE(verifyChunks(sums, 1, b.subspan(kChecksumChunk)));
}

}  // namespace
}  // namespace epochfs::cache
