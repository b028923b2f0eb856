// policy/sim/Records.h: records inside one large file, read at random, through the policy.
//
// What `epochfs simulate --records N` prints (docs/policies.md, "Records inside large files").
// The file holds N records of `recordBytes` back to back from `firstOffset` (a header before
// them); each epoch reads every record once in a fresh random order. The cache holds a
// fraction c of the file in units of either cache.block_size ("blocks", what every file got
// before grains) or the daemon's grain for such records (cache/Grain.h shiftForRecords). A
// record read touches the units it spans; a unit's read is told to the policy as the daemon's
// registry tells it (BlockRegistry::noteRead): a block's at every record, a grain's once both
// its ends were read since it last was (until then it is cached as unread). With a plan, each
// epoch's units in read order are published when it starts. Prefetch budget: B origin bytes
// per byte read. Reported: origin bytes per epoch as a fraction of the file in epochs 2..E
// (the floor is 1 - c) and the share of unit reads served from the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/Status.h"

namespace epochfs::policy::sim {

struct RecordsOptions {
  uint64_t records = 1536;
  uint64_t recordBytes = 192 * 1024;
  uint64_t firstOffset = 0;
  uint64_t blockBytes = 4 << 20;
  std::vector<double> fractions = {0.25, 0.5, 0.75};
  size_t epochs = 5;
  size_t seeds = 3;
  double bandwidth = 0.5;
  bool plan = false;
};

struct RecordsRow {
  double fraction = 0;
  uint64_t unitBytes = 0;      // of the cache's units in this row
  bool grain = false;          // units of the grain (else of cache.block_size)
  double originPerEpoch = 0;   // origin bytes / file bytes, mean of epochs 2..E and seeds
  double hitRatio = 0;         // unit reads served from the cache, epochs 2..E
};

// For each fraction: a row in blocks, and a row in grains if the records get one. kInvalid
// for bad numbers.
Result<std::vector<RecordsRow>> runRecords(const RecordsOptions& opts);

}  // namespace epochfs::policy::sim
