// cli/Commands.h: the subcommands of the `epochfs` binary. Each returns the process exit code
// and prints its own errors ("epochfs: <message>") to stderr.
#pragma once

#include <optional>
#include <string>

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
  std::optional<std::string> logLevel;
  std::optional<std::string> logFile;
  std::optional<std::string> endpoint;
  std::optional<std::string> region;
  std::optional<std::string> metadataTtl;
  bool allowOther = false;
  bool foreground = false;
  int readyTimeoutSec = 120;
};

int runMount(const MountFlags& flags);
int runUmount(const std::string& mountpoint, bool lazy, int waitSec);
int runStats(const std::string& mountpoint, bool json);
int runRefresh(const std::string& mountpoint);

}  // namespace epochfs::cli
