// cache/Checksum.h: xxh3-64 checksums of cached blocks, kept per 128 KiB chunk.
//
// BlockCache stores, for every block, one checksum per kChecksumChunk bytes (the last chunk may
// be shorter). A FUSE read touches a few chunks of a multi-MiB block, so only those chunks are
// read from the SSD and verified: every byte served from the cache is verified on every read,
// at the cost of 8 bytes of index per 128 KiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace epochfs::cache {

// Bytes covered by one checksum. A FUSE read (<= 1 MiB, usually 128 KiB aligned) thus verifies
// at most the chunks it touches plus one at each unaligned end.
inline constexpr uint64_t kChecksumChunk = 128 * 1024;

// xxh3-64 (seed 0) of `data`.
uint64_t xxh3(std::span<const std::byte> data);

// Number of chunks of a block of `length` bytes (0 for an empty block).
inline size_t chunkCount(uint64_t length) {
  return static_cast<size_t>((length + kChecksumChunk - 1) / kChecksumChunk);
}

// The checksums of every chunk of `block`.
std::vector<uint64_t> chunkChecksums(std::span<const std::byte> block);

// True if `data`, which holds the block's bytes starting at chunk `firstChunk` and ends on a
// chunk boundary or at the end of the block, matches `sums` chunk by chunk. False if any chunk
// differs or `data` does not fit the block that `sums` describes.
bool verifyChunks(std::span<const uint64_t> sums, size_t firstChunk,
                  std::span<const std::byte> data);

}  // namespace epochfs::cache
