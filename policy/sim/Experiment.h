// policy/sim/Experiment.h: hit ratio against cache fraction, per policy, with the bounds.
//
// What `epochfs simulate` prints and plots (docs/policies.md). Each (policy, fraction, seed)
// replays its own fresh policy over the trace of that seed (seed s: trace seed 1000 + s, as
// sim.py; policy seed s + 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/Status.h"

namespace epochfs::policy::sim {

struct ExperimentOptions {
  size_t files = 10000;  // N
  std::vector<double> fractions = {0.1, 0.25, 0.5, 0.75, 0.9};
  size_t epochs = 5;     // E; the steady state is epochs 2..E
  double bandwidth = 0.5;  // B, prefetch budget in origin fetches per item read
  bool plan = false;       // run "planned" with each epoch's plan
  size_t seeds = 3;
  // Policies to run (makePolicy names). Empty: lru, fixed, epoch, and planned with --plan.
  std::vector<std::string> policies;
};

struct Cell {
  std::string policy;
  double fraction = 0;
  double hitRatio = 0;       // mean over seeds, epochs 2..E
  double hitRatioSd = 0;     // population stdev over seeds
  double originPerRead = 0;  // mean origin fetches per read, epochs 2..E
};

struct Bounds {
  double lru = 0;    // c + (1-c) ln(1-c)
  double fixed = 0;  // c: any demand-fetch policy
  double epoch = 0;  // min(1, c (1 + H_N - H_C)) ~ c (1 + ln(1/c)): order-unaware prefetch
  double plan = 0;   // min(1, c + B): order-aware prefetch with budget B
};

Bounds bounds(size_t files, size_t capacity, double bandwidth);

// Why a sweep of these settings cannot run (kInvalid naming the setting), or ok: fractions in
// (0, 1], at least 2 epochs and 1 seed, bandwidth >= 0. Shared by runExperiment and
// runRecords (Records.h).
Status checkSweep(const std::vector<double>& fractions, size_t epochs, size_t seeds,
                  double bandwidth);

// Cache slots for a fraction: round(fraction * files), as sim.py.
size_t capacityFor(size_t files, double fraction);

// The policies that will run for `opts` (the defaults filled in).
std::vector<std::string> experimentPolicies(const ExperimentOptions& opts);

// Rows in policy order, then fraction order. kInvalid for an unknown policy or bad numbers.
Result<std::vector<Cell>> runExperiment(const ExperimentOptions& opts);

}  // namespace epochfs::policy::sim
