// The `epochfs` binary: mount, umount, stats, refresh, plan, simulate.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/Commands.h"
#include "common/Version.h"

int main(int argc, char** argv) {
  using epochfs::cli::MountFlags;
  CLI::App app{"epochfs: a caching FUSE filesystem for deep-learning datasets"};
  app.set_version_flag("--version", std::string("epochfs ") + epochfs::kVersion);
  app.require_subcommand(1);

  MountFlags mf;
  auto* mount = app.add_subcommand("mount", "Mount SOURCE (a directory or an S3 bucket) on MOUNTPOINT");
  mount->add_option("SOURCE", mf.source,
                    "Dataset origin: a local directory or s3://BUCKET[/PREFIX]")
      ->required();
  mount->add_option("MOUNTPOINT", mf.mountpoint, "Existing empty directory to mount on (see --nonempty)")
      ->required();
  mount->add_option("--config", mf.configFile, "YAML config file (see docs/config.md)");
  mount->add_option("--cache-dir", mf.cacheDir, "Cache directory (cache.dir)");
  mount->add_option("--cache-size", mf.cacheSize, "Cache size limit, e.g. 20GiB (cache.size)");
  mount->add_option("--min-free", mf.minFree,
                    "Free space to keep on the cache filesystem (cache.min_free)");
  mount->add_option("--block-size", mf.blockSize, "Cache block size (cache.block_size)");
  mount->add_option("--policy", mf.policy,
                    "Cache policy: epoch (default), lru or fixed (policy.name)");
  mount->add_option("--prefetch-threads", mf.prefetchThreads,
                    "Background prefetchers; 0 turns prefetch off (policy.prefetch_threads; "
                    "default auto)");
  mount->add_option("--threads", mf.threads, "FUSE worker threads (fuse.threads)");
  mount->add_option("--log-level", mf.logLevel,
                    "trace, debug, info, warn, error or off (log.level)");
  mount->add_option("--log-file", mf.logFile, "Log file (log.file)");
  mount->add_option("--endpoint", mf.endpoint,
                    "S3 endpoint URL, e.g. http://127.0.0.1:7480 (s3.endpoint; default AWS)");
  mount->add_option("--region", mf.region, "S3 signing region (s3.region)");
  mount->add_option("--metadata-ttl", mf.metadataTtl,
                    "immutable, or seconds to trust listings (metadata.ttl)");
  mount->add_option("--passthrough", mf.passthrough,
                    "auto, on or off: the kernel reads cached files itself (fuse.passthrough)");
  mount->add_option("--passthrough-verify", mf.passthroughVerify,
                    "open or once: verify a passed-through file at every open or once per "
                    "mount (fuse.passthrough_verify)");
  mount->add_flag("--allow-other", mf.allowOther,
                  "Let other users access the mount (fuse.allow_other)");
  mount->add_flag("--nonempty", mf.nonempty,
                  "Mount over a non-empty directory, hiding its files (fuse.nonempty)");
  mount->add_flag("-f,--foreground", mf.foreground, "Stay in the foreground; log to stderr");
  mount->add_option("--ready-timeout", mf.readyTimeoutSec,
                    "Seconds each startup step of the daemon may take before giving up")
      ->capture_default_str();

  std::string umountPoint;
  bool lazy = false;
  int waitSec = 60;
  auto* umount = app.add_subcommand("umount", "Unmount MOUNTPOINT and wait for its daemon");
  umount->add_option("MOUNTPOINT", umountPoint, "An epochfs mountpoint")->required();
  umount->add_flag("--lazy", lazy, "Detach now even if files are open (MNT_DETACH)");
  umount->add_option("--wait", waitSec, "Seconds to wait for the daemon to exit")
      ->capture_default_str();

  std::string statsPoint;
  bool json = false;
  auto* stats = app.add_subcommand("stats", "Show cache and origin statistics of a mount");
  stats->add_option("MOUNTPOINT", statsPoint, "An epochfs mountpoint")->required();
  stats->add_flag("--json", json, "Print the raw JSON of MOUNTPOINT/.epochfs/stats");

  std::string refreshPoint;
  auto* refresh = app.add_subcommand(
      "refresh", "Re-list the origin of MOUNTPOINT (a namespace snapshot) and wait until done");
  refresh->add_option("MOUNTPOINT", refreshPoint, "An epochfs mountpoint")->required();

  std::string planPoint, planFile;
  bool planResume = false;
  auto* plan = app.add_subcommand(
      "plan", "Publish a plan: the order of the coming epoch, one path per line");
  plan->add_option("MOUNTPOINT", planPoint, "An epochfs mountpoint")->required();
  plan->add_option("FILE", planFile,
                   "Paths relative to the mount root, one per line; - reads stdin")
      ->required();
  plan->add_flag("--resume", planResume,
                 "The paths are the rest of the epoch being read, from a job restarted "
                 "mid-epoch: they replace what is planned from the reader's position on");

  epochfs::cli::SimulateFlags sf;
  auto* simulate = app.add_subcommand(
      "simulate", "Replay synthetic epoch-shuffled reads through the cache policies");
  simulate->add_option("--files", sf.files, "Dataset items N")->capture_default_str();
  simulate->add_option("--cache-fraction", sf.fractions, "Cache sizes as fractions of N")
      ->delimiter(',')
      ->capture_default_str();
  simulate->add_option("--epochs", sf.epochs, "Epochs E (steady state: 2..E)")
      ->capture_default_str();
  simulate->add_option("--bandwidth", sf.bandwidth,
                       "Origin fetches per item read available for prefetch (B)")
      ->capture_default_str();
  simulate->add_flag("--plan", sf.plan, "Also run 'planned', given each epoch's order");
  simulate->add_option("--seeds", sf.seeds, "Traces per setting")->capture_default_str();
  simulate->add_option("--policies", sf.policies, "Policies to run (default: all that apply)")
      ->delimiter(',');
  simulate->add_option("--plot", sf.plot, "Write an SVG plot of hit ratio against c here");
  simulate->add_option("--records", sf.records,
                       "Model N records inside one large file instead of files (HDF5, LMDB)");
  simulate->add_option("--record-size", sf.recordSize, "With --records: bytes per record")
      ->capture_default_str();
  simulate->add_option("--record-offset", sf.recordOffset,
                       "With --records: where the first record starts (a header before it)")
      ->capture_default_str();
  simulate->add_option("--block-size", sf.blockSize, "With --records: cache.block_size")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (mount->parsed()) return epochfs::cli::runMount(mf);
  if (umount->parsed()) return epochfs::cli::runUmount(umountPoint, lazy, waitSec);
  if (stats->parsed()) return epochfs::cli::runStats(statsPoint, json);
  if (refresh->parsed()) return epochfs::cli::runRefresh(refreshPoint);
  if (plan->parsed()) return epochfs::cli::runPlan(planPoint, planFile, planResume);
  if (simulate->parsed()) return epochfs::cli::runSimulate(sf);
  return 2;
}
