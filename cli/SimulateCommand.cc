// `epochfs simulate`: synthetic epoch-shuffle traces through the policy classes (policy/sim),
// hit ratios beside the theoretical bounds, and an SVG plot.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <tuple>

#include <fmt/format.h>

#include "cli/Commands.h"
#include "config/ConfigLoader.h"
#include "policy/sim/Experiment.h"
#include "policy/sim/Records.h"
#include "policy/sim/SvgPlot.h"

namespace epochfs::cli {

namespace {

// --records: blocks against grains for records inside one large file.
int runRecordsSimulation(const SimulateFlags& flags) {
  policy::sim::RecordsOptions o;
  o.records = flags.records;
  for (auto [text, name, out] : {std::tuple{&flags.recordSize, "--record-size", &o.recordBytes},
                                 std::tuple{&flags.recordOffset, "--record-offset", &o.firstOffset},
                                 std::tuple{&flags.blockSize, "--block-size", &o.blockBytes}}) {
    Result<uint64_t> v = config::parseSize(*text);
    if (!v.isOk()) {
      std::cerr << "epochfs: " << name << ": " << v.status().message() << "\n";
      return 2;
    }
    *out = *v;
  }
  o.fractions = flags.fractions;
  o.epochs = flags.epochs;
  o.bandwidth = flags.bandwidth;
  o.plan = flags.plan;
  o.seeds = flags.seeds;
  Result<std::vector<policy::sim::RecordsRow>> rows = policy::sim::runRecords(o);
  if (!rows.isOk()) {
    std::cerr << "epochfs: " << rows.status().message() << "\n";
    return 2;
  }
  const uint64_t file = o.firstOffset + o.records * o.recordBytes;
  std::cout << fmt::format(
      "{} records of {} bytes from offset {} ({:.1f} MiB), read in a fresh random order each "
      "of E={} epochs; policy epoch, B={:g} origin bytes per byte read, {} seed{}, plan: {}\n"
      "origin bytes per epoch as a fraction of the file (epochs 2..{}; the floor is 1 - c) "
      "and the share of block reads served from the cache\n\n",
      o.records, o.recordBytes, o.firstOffset, static_cast<double>(file) / (1 << 20), o.epochs,
      o.bandwidth, o.seeds, o.seeds == 1 ? "" : "s", o.plan ? "each epoch's" : "none", o.epochs);
  std::cout << fmt::format("{:>6} {:>22} {:>10} {:>8} {:>8}\n", "c", "unit", "origin", "hits",
                           "1 - c");
  for (const policy::sim::RecordsRow& r : *rows) {
    const std::string unit = fmt::format("{} of {} KiB", r.grain ? "grains" : "blocks",
                                         r.unitBytes >> 10);
    std::cout << fmt::format("{:>6.2f} {:>22} {:>10.3f} {:>8.3f} {:>8.3f}\n", r.fraction, unit,
                             r.originPerEpoch, r.hitRatio, 1 - r.fraction);
  }
  return 0;
}

}  // namespace

int runSimulate(const SimulateFlags& flags) {
  if (flags.records > 0) return runRecordsSimulation(flags);
  policy::sim::ExperimentOptions o;
  o.files = flags.files;
  o.fractions = flags.fractions;
  o.epochs = flags.epochs;
  o.bandwidth = flags.bandwidth;
  o.plan = flags.plan;
  o.seeds = flags.seeds;
  o.policies = flags.policies;
  Result<std::vector<policy::sim::Cell>> cells = policy::sim::runExperiment(o);
  if (!cells.isOk()) {
    std::cerr << "epochfs: " << cells.status().message() << "\n";
    return 2;
  }
  const std::vector<std::string> names = policy::sim::experimentPolicies(o);

  std::cout << fmt::format(
      "N={} files, E={} epochs, B={:g} origin fetches per read, {} seed{}, plan: {}\n"
      "steady-state fraction of reads served from cache (epochs 2..{}), mean over seeds\n\n",
      o.files, o.epochs, o.bandwidth, o.seeds, o.seeds == 1 ? "" : "s",
      o.plan ? "published at each epoch's start" : "none", o.epochs);
  std::string head = fmt::format("{:>6}", "c");
  for (const std::string& n : names) head += fmt::format(" {:>8}", n);
  head += fmt::format(" | {:>14} {:>6} {:>12} {:>10}", "c+(1-c)ln(1-c)", "c", "c(1+H_N-H_C)",
                      "min(1,c+B)");
  std::cout << head << "\n";
  double worstSd = 0;
  std::string origin = fmt::format("{:>6}", "c");
  for (const std::string& n : names) origin += fmt::format(" {:>8}", n);
  origin += "\n";
  for (double f : o.fractions) {
    std::string row = fmt::format("{:>6.2f}", f);
    std::string orow = row;
    for (const std::string& n : names) {
      for (const policy::sim::Cell& c : *cells) {
        if (c.policy != n || c.fraction != f) continue;
        row += fmt::format(" {:>8.4f}", c.hitRatio);
        orow += fmt::format(" {:>8.4f}", c.originPerRead);
        worstSd = std::max(worstSd, c.hitRatioSd);
      }
    }
    policy::sim::Bounds b =
        policy::sim::bounds(o.files, policy::sim::capacityFor(o.files, f), o.bandwidth);
    row += fmt::format(" | {:>14.4f} {:>6.4f} {:>12.4f} {:>10.4f}", b.lru, b.fixed, b.epoch, b.plan);
    std::cout << row << "\n";
    origin += orow + "\n";
  }
  std::cout << fmt::format("(largest stdev over seeds: {:.4f})\n\n", worstSd);
  std::cout << "origin fetches (misses + prefetches) per read; the floor is 1 - c\n" << origin;

  if (!flags.plot.empty()) {
    std::ofstream out(flags.plot);
    out << policy::sim::hitRatioSvg(*cells, o);
    out.close();
    if (!out) {
      std::cerr << "epochfs: cannot write " << flags.plot << "\n";
      return 1;
    }
    std::cout << "\nplot: " << flags.plot << "\n";
  }
  return 0;
}

}  // namespace epochfs::cli
