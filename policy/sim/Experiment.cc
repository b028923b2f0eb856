// policy/sim/Experiment.cc
#include "policy/sim/Experiment.h"

#include <cmath>
#include <cstdio>
#include <memory>

#include "common/PolicyNames.h"
#include "policy/EpochAware.h"
#include "policy/Policy.h"
#include "policy/sim/Replay.h"

namespace epochfs::policy::sim {

namespace {

double harmonic(size_t n) {
  double h = 0;
  for (size_t k = 1; k <= n; ++k) h += 1.0 / static_cast<double>(k);
  return h;
}

}  // namespace

Status checkSweep(const std::vector<double>& fractions, size_t epochs, size_t seeds,
                  double bandwidth) {
  if (epochs < 2) return invalid("epochs must be at least 2 (epoch 1 is cold)");
  if (seeds == 0) return invalid("seeds must be at least 1");
  if (!(bandwidth >= 0)) return invalid("bandwidth must be >= 0");
  for (double f : fractions) {
    if (!(f > 0 && f <= 1)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "cache fraction %g is not in (0, 1]", f);
      return invalid(buf);
    }
  }
  return Status::ok();
}

size_t capacityFor(size_t files, double fraction) {
  return static_cast<size_t>(std::llround(fraction * static_cast<double>(files)));
}

Bounds bounds(size_t files, size_t capacity, double bandwidth) {
  Bounds b;
  const double c = files == 0 ? 0 : static_cast<double>(capacity) / static_cast<double>(files);
  b.lru = c < 1 ? c + (1 - c) * std::log(1 - c) : 1.0;
  b.fixed = c;
  b.epoch = std::min(1.0, c * (1 + harmonic(files) - harmonic(capacity)));
  b.plan = std::min(1.0, c + bandwidth);
  return b;
}

std::vector<std::string> experimentPolicies(const ExperimentOptions& opts) {
  if (!opts.policies.empty()) return opts.policies;
  std::vector<std::string> p;
  for (const PolicyName& policy : kPolicies) {
    if (!policy.needsPlan || opts.plan) p.emplace_back(policy.name);
  }
  return p;
}

Result<std::vector<Cell>> runExperiment(const ExperimentOptions& opts) {
  if (opts.files == 0) return invalid("files must be at least 1");
  EPOCHFS_RETURN_IF_ERROR(checkSweep(opts.fractions, opts.epochs, opts.seeds, opts.bandwidth));
  const std::vector<std::string> names = experimentPolicies(opts);
  for (const std::string& name : names) {
    Result<std::unique_ptr<Policy>> p = makePolicy(name);
    if (!p.isOk()) return p.status();
  }
  std::vector<EpochTrace> traces;
  for (size_t s = 0; s < opts.seeds; ++s) {
    traces.push_back(makeEpochTrace(opts.files, opts.epochs, 1000 + s));
  }
  std::vector<Cell> cells;
  for (const std::string& name : names) {
    for (double f : opts.fractions) {
      ReplayOptions ro;
      ro.capacity = capacityFor(opts.files, f);
      ro.bandwidth = opts.bandwidth;
      ro.plan = opts.plan;
      double sum = 0, sumSq = 0, origin = 0;
      for (size_t s = 0; s < opts.seeds; ++s) {
        std::unique_ptr<Policy> policy;
        if (name == "epoch") {
          EpochAwareOptions eo;
          eo.seed = s + 1;
          policy = std::make_unique<EpochAware>(eo);
        } else {
          policy = std::move(makePolicy(name).value());
        }
        ReplayResult r = replay(*policy, traces[s], ro);
        const double h = r.steadyHitRatio();
        sum += h;
        sumSq += h * h;
        origin += r.steadyOriginPerRead();
      }
      const double n = static_cast<double>(opts.seeds);
      Cell cell;
      cell.policy = name;
      cell.fraction = f;
      cell.hitRatio = sum / n;
      cell.hitRatioSd = std::sqrt(std::max(0.0, sumSq / n - cell.hitRatio * cell.hitRatio));
      cell.originPerRead = origin / n;
      cells.push_back(cell);
    }
  }
  return cells;
}

}  // namespace epochfs::policy::sim
