// cache/FileGrains.h: which files are read at random, and the grain each is cut into.
//
// A training job reads records of a large file (HDF5 chunks, LMDB values, rows of a .npy) at
// random offsets. Cut into blocks of cache.block_size, each record read fetches and caches a
// 4 MiB block for a 100-200 KiB record, the block is a victim once read although most of its
// records are not, and the epoch clock sees every block read many times an epoch. Such a file
// is cut into blocks of its *grain* instead (Grain.h): about its readers' request size.
//
// How a file is found to be read at random: the reads of each file larger than
// kMinFileBlocks blocks are followed as *runs*, stretches read in order (up to kStreams at
// once, so that interleaved readers of one file each have theirs): a read continues a run when
// it starts within near(read) of it, and starts a new run otherwise, which retires the run
// used longest ago. A run that grows to kSequentialBlocks blocks makes the file sequential
// (a stream: a tar shard, a file copied); after kDecideAfter retired runs the file is random
// when their median length is under half a block. Its grain is then the largest power of two
// no larger than half that median (so that most records hold a whole grain, and the grains
// two records share are small), at least 64 KiB; or the configured grain
// (cache.random_block_size). Runs, not requests, because a reader through mmap (LMDB) reads a
// record as many page-sized requests in order. A file found sequential is not looked at again
// (until the table of followed files fills up, kMaxFollowed, and is cleared). The blocks of
// cache.block_size cached while a file was followed (a dozen records) are cut into grains
// when it is found random, from the SSD (BlockCacheRegrain.cc): nothing is fetched twice.
//
// A file's grain is also set from what the cache finds on disk (recovery: blocks cut at a
// grain) and from a plan that names ranges of the file, and it lasts for the life of the
// cache. Not persisted by itself: a file none of whose small blocks is cached is found again
// by its reads.
//
// Thread-safe (its own mutex, held for a hash lookup); never blocks otherwise.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/Grain.h"
#include "common/StringHash.h"

namespace epochfs::cache {

struct FileGrainsOptions {
  uint64_t blockSize = 0;    // cache.block_size
  bool enabled = true;       // false: every file at cache.block_size (random_block_size: off)
  uint64_t fixedGrain = 0;   // a power of two; 0: from the readers' request sizes (auto)
};

class FileGrains {
 public:
  static constexpr uint64_t kMinFileBlocks = 2;     // files of more blocks are followed
  static constexpr size_t kStreams = 4;             // runs followed at once per file
  static constexpr uint64_t kSequentialBlocks = 1;  // a run this long: a sequential file
  static constexpr uint32_t kDecideAfter = 8;       // retired runs
  static constexpr size_t kMaxFollowed = 4096;

  explicit FileGrains(const FileGrainsOptions& opts);

  // What a read decided.
  struct Grain {
    unsigned shift = 0;     // the file's grain now (Grain.h; 0: cache.block_size)
    bool switched = false;  // this read found the file random: its blocks of cache.block_size
                            // are of no more use
    bool learning = false;  // the file is followed and not decided yet (see BlockRead::counts)
    bool sequential = false;  // the file was found read in order (a shard): a pass reads each
                              // block to its end
  };
  // The grain of `key` (a file of `size` bytes) for a read of [offset, offset + length),
  // which it learns from.
  Grain onRead(std::string_view key, uint64_t size, uint64_t offset, uint64_t length);
  // The grain of `key` as known (0: cache.block_size), without a read.
  unsigned shiftOf(std::string_view key) const;
  // Sets the grain of `key` (recovery, a plan of ranges). shift 0 does nothing.
  void set(std::string_view key, unsigned shift);
  // The grain for records of about `length` bytes (0: cache.block_size suits them).
  unsigned shiftForRecords(uint64_t length) const;
  // Files cut at a grain.
  size_t randomFiles() const;

  // Whether a file of `size` bytes is followed at all: larger than kMinFileBlocks blocks, of
  // blocks that a grain can be smaller than (at least twice the smallest grain).
  bool follows(uint64_t size) const {
    return opts_.enabled && opts_.blockSize >= (uint64_t{2} << grain::kMinShift) &&
           size > kMinFileBlocks * opts_.blockSize;
  }

 private:
  struct Run {
    uint64_t start = 0;
    uint64_t end = 0;   // 0 with start 0: no run
    uint64_t used = 0;  // the file's read count at its last read
  };
  struct Followed {
    std::array<Run, kStreams> runs{};
    uint64_t reads = 0;
    uint32_t retired = 0;
    bool sequential = false;  // decided: stays at cache.block_size
    std::array<uint64_t, kDecideAfter> lengths{};  // of the runs retired
  };
  // A read of `length` bytes continues a run whose span it starts within this distance of:
  // max(128 KiB, twice the read), enough for requests a worker pool reorders by a few places.
  static uint64_t near(uint64_t length);
  // Adds the read to `f`'s runs; true when that decided the file (sequential set, or a shift
  // in `shift`).
  bool follow(Followed& f, uint64_t offset, uint64_t length, unsigned& shift) const;

  const FileGrainsOptions opts_;
  mutable std::mutex mu_;
  // Looked up by string_view: a read of a followed file allocates nothing.
  template <typename V>
  using ByKey = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
  ByKey<unsigned> random_;  // file key -> shift (non-zero)
  ByKey<Followed> followed_;
};

}  // namespace epochfs::cache
