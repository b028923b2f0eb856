// cache/Grain.h: block numbers that carry their block's size.
//
// Most files are cut into blocks of cache.block_size. A large file read at random offsets
// (records inside HDF5, LMDB, .npy files: FileGrains.h) is cut into smaller blocks instead,
// of a power-of-two size, its *grain*, so that a fetch, a cached block, a victim and a read
// for the epoch clock are each about one record rather than one 4 MiB block.
//
// The grain is part of the block number, so that every index key, object file slot, flight
// and fetch says its own byte range and no table of file grains is needed to interpret one:
// block n of grain 2^s is (s << 56) | n; a block number whose top byte is 0 is block n of
// cache.block_size (every block number before grains existed). Blocks of the two kinds never
// share a key, and the blocks of one version at a grain have their own object file
// (BlockCacheImpl::objectVersion), so the two cannot overlap on disk either.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace epochfs::cache::grain {

inline constexpr unsigned kShiftBit = 56;
inline constexpr uint64_t kIndexMask = (uint64_t{1} << kShiftBit) - 1;
// The grains there are: 64 KiB (the smallest block size) .. 128 MiB.
inline constexpr unsigned kMinShift = 16;
inline constexpr unsigned kMaxShift = 27;

// Block `index` of grain 2^shift; shift 0: of cache.block_size.
constexpr uint64_t make(unsigned shift, uint64_t index) {
  return (uint64_t{shift} << kShiftBit) | (index & kIndexMask);
}
constexpr unsigned shiftOf(uint64_t blockNo) { return static_cast<unsigned>(blockNo >> kShiftBit); }
constexpr uint64_t indexOf(uint64_t blockNo) { return blockNo & kIndexMask; }
// Whether a block number could have come from make() (recovery checks what it reads).
constexpr bool valid(uint64_t blockNo) {
  const unsigned s = shiftOf(blockNo);
  return s == 0 || (s >= kMinShift && s <= kMaxShift);
}
// The nominal size of the blocks of `blockNo`'s grain (the last block of a file is shorter).
constexpr uint64_t bytesOf(uint64_t blockNo, uint64_t blockSize) {
  const unsigned s = shiftOf(blockNo);
  return s == 0 ? blockSize : uint64_t{1} << s;
}
// The grain (`auto`) for records of about `length` bytes in blocks of `blockSize`: the largest
// power of two no larger than half a record, at least 2^kMinShift; 0 (the block size) for
// records of half a block or more, or when that grain would not be smaller than a block.
constexpr unsigned shiftForRecords(uint64_t length, uint64_t blockSize) {
  if (length == 0 || length >= blockSize / 2) return 0;
  const uint64_t half = std::max<uint64_t>(length / 2, 1);
  unsigned shift = static_cast<unsigned>(std::bit_width(half) - 1);  // floor(log2(half))
  shift = std::clamp(shift, kMinShift, kMaxShift);
  return (uint64_t{1} << shift) < blockSize ? shift : 0;
}
// Where block `blockNo` starts in its file.
constexpr uint64_t startOf(uint64_t blockNo, uint64_t blockSize) {
  return indexOf(blockNo) * bytesOf(blockNo, blockSize);
}

}  // namespace epochfs::cache::grain
