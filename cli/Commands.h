// cli/Commands.h: the subcommands of the `epochfs` binary. Each returns the process exit code
// and prints its own errors ("epochfs: <message>") to stderr.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace epochfs::cli {

// Flags of `epochfs mount`; unset ones leave the config file's value (or the default).
struct MountFlags {
  std::string source;
  std::string mountpoint;
  std::string configFile;
  std::optional<std::string> cacheDir;
  std::optional<std::string> cacheSize;
  std::optional<std::string> minFree;
  std::optional<std::string> blockSize;
  std::optional<std::string> policy;
  std::optional<int> threads;
  std::optional<int> prefetchThreads;
  std::optional<std::string> logLevel;
  std::optional<std::string> logFile;
  std::optional<std::string> endpoint;
  std::optional<std::string> region;
  std::optional<std::string> metadataTtl;
  std::optional<std::string> passthrough;
  std::optional<std::string> passthroughVerify;
  bool allowOther = false;
  bool nonempty = false;
  bool foreground = false;
  int readyTimeoutSec = 120;
};

// Flags of `epochfs simulate` (policy/sim/Experiment.h has the model).
struct SimulateFlags {
  size_t files = 10000;
  std::vector<double> fractions = {0.1, 0.25, 0.5, 0.75, 0.9};
  size_t epochs = 5;
  double bandwidth = 0.5;
  bool plan = false;
  size_t seeds = 3;
  std::vector<std::string> policies;  // empty: lru, fixed, epoch (+ planned with --plan)
  std::string plot;                   // SVG file to write; empty: none
  // Records inside one large file (policy/sim/Records.h) instead of files: the number of
  // records (0: files), and sizes as text ("192KiB"), parsed by runSimulate.
  uint64_t records = 0;
  std::string recordSize = "192KiB";
  std::string recordOffset = "0";
  std::string blockSize = "4MiB";
};

int runMount(const MountFlags& flags);
int runUmount(const std::string& mountpoint, bool lazy, int waitSec);
int runStats(const std::string& mountpoint, bool json);
int runRefresh(const std::string& mountpoint);
// `file` "-" is stdin.
// `resume`: the paths are the rest of the reader's current epoch (fs::kPlanResumes).
int runPlan(const std::string& mountpoint, const std::string& file, bool resume = false);
int runSimulate(const SimulateFlags& flags);

}  // namespace epochfs::cli
