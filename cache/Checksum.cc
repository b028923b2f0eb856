#include "cache/Checksum.h"

#include <algorithm>

#include <xxhash.h>

namespace epochfs::cache {

uint64_t xxh3(std::span<const std::byte> data) {
  return XXH3_64bits(data.data(), data.size());
}

std::vector<uint64_t> chunkChecksums(std::span<const std::byte> block) {
  std::vector<uint64_t> sums;
  sums.reserve(chunkCount(block.size()));
  for (size_t off = 0; off < block.size(); off += kChecksumChunk) {
    sums.push_back(xxh3(block.subspan(off, std::min<size_t>(kChecksumChunk, block.size() - off))));
  }
  return sums;
}

bool verifyChunks(std::span<const uint64_t> sums, size_t firstChunk,
                  std::span<const std::byte> data) {
  size_t chunk = firstChunk;
  for (size_t off = 0; off < data.size(); off += kChecksumChunk, ++chunk) {
    if (chunk >= sums.size()) return false;
    size_t len = std::min<size_t>(kChecksumChunk, data.size() - off);
    // A chunk shorter than kChecksumChunk can only be the block's last one; its checksum then
    // also pins the block's length, so a truncated read never verifies.
    if (xxh3(data.subspan(off, len)) != sums[chunk]) return false;
  }
  return true;
}

}  // namespace epochfs::cache
