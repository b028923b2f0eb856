// config/Validate.cc: validate(), the last step before options reach the modules.
//
// Runs after the flags, so it sees the final values whichever layer set them, and it reports
// every problem at once: a user fixing a config by trial and error should need one round trip,
// not one per mistake. Paths are made absolute here because the daemon chdir()s to "/" after
// forking, and a relative path would then silently mean something else.
#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "common/Paths.h"
#include "config/Checks.h"
#include "config/ConfigLoader.h"
#include "config/Options.h"

namespace epochfs::config {
namespace {

namespace fs = std::filesystem;

class Problems {
 public:
  void add(std::string_view key, const Status& s) {
    if (!s.isOk()) lines_.push_back(std::string(key) + ": " + s.message());
  }
  void add(std::string line) { lines_.push_back(std::move(line)); }
  Status status() const {
    if (lines_.empty()) return Status::ok();
    std::string msg;
    for (const std::string& l : lines_) {
      if (!msg.empty()) msg += '\n';
      msg += l;
    }
    return invalid(std::move(msg));
  }

 private:
  std::vector<std::string> lines_;
};

// "scheme://..." (s3://, later maybe gs:// or http://): the origin's business, kept verbatim.
bool isUrl(std::string_view source) {
  const size_t colon = source.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  return std::all_of(source.begin(), source.begin() + static_cast<std::ptrdiff_t>(colon),
                     [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
                     });
}

// Absolute, lexically normal, without a trailing '/': "data/x/" -> "/cwd/data/x". No symlinks
// are resolved and the path need not exist.
Status makeAbsolute(std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) return invalid("cannot make '" + path + "' absolute: " + ec.message());
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  path = std::move(out);
  return Status::ok();
}

// Both paths absolute and normal. True if `inner` is `outer` or below it.
bool isWithin(const std::string& inner, const std::string& outer) {
  if (outer == "/") return true;
  if (inner == outer) return true;
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

void checkPath(Problems& problems, std::string_view key, std::string& path) {
  const Status s = checks::path(path);
  if (!s.isOk()) {
    problems.add(key, s);
    return;
  }
  if (!path.empty()) problems.add(key, makeAbsolute(path));
}

// A path given and the same path resolved: "'/a'" or "'/a' (resolved: '/b')".
struct Place {
  std::string given;
  std::string real;
  std::string shown() const {
    return "'" + given + "'" + (real == given ? "" : " (resolved: '" + real + "')");
  }
};

Place place(const std::string& path) { return Place{path, resolvedPath(path)}; }

// Paths that must not overlap, compared with symlinks resolved, since a link reaches the same
// directory as its target:
// - a mountpoint equal to or inside a directory source: the daemon's own lookups of the
//   source would go through its mount (a deadlock at the first `ls`), or the mount would hold
//   itself (an endless tree); a source inside the mountpoint is hidden by the mount, and
//   reading it deadlocks the same way;
// - the cache dir (and the log) inside the mountpoint: written through our own mount; the
//   cache dir containing the mountpoint: recovery would walk into the mount;
// - the cache dir inside or around a directory source: block files would show up as dataset
//   files.
void checkOverlaps(Problems& problems, const MountOptions& opts, bool localSource) {
  const Place source = localSource ? place(opts.origin.source) : Place{};
  Place mnt;
  if (!opts.mountpoint.empty()) {
    std::string m = opts.mountpoint;
    if (makeAbsolute(m).isOk()) mnt = place(m);
  }
  if (!mnt.real.empty() && localSource) {
    if (mnt.real == source.real) {
      problems.add("MOUNTPOINT: " + mnt.shown() + " is origin.source " + source.shown() +
                   ": a directory mounted on itself deadlocks at the first lookup; mount it "
                   "on another directory");
    } else if (isWithin(mnt.real, source.real)) {
      problems.add("MOUNTPOINT: " + mnt.shown() + " is inside origin.source " + source.shown() +
                   ": the mount would contain itself (an endless tree); mount it outside the "
                   "source");
    } else if (isWithin(source.real, mnt.real)) {
      problems.add("origin.source: " + source.shown() + " is inside the mountpoint " +
                   mnt.shown() + ": the mount would hide it (and reading it would deadlock); "
                   "mount it outside the source");
    }
  }
  const Place cache = opts.cache.dir.empty() ? Place{} : place(opts.cache.dir);
  if (!mnt.real.empty() && !cache.real.empty()) {
    if (isWithin(cache.real, mnt.real)) {
      problems.add("cache.dir: " + cache.shown() + " is inside the mountpoint " + mnt.shown());
    } else if (isWithin(mnt.real, cache.real)) {
      problems.add("cache.dir: " + cache.shown() + " contains the mountpoint " + mnt.shown());
    }
  }
  if (!mnt.real.empty() && !opts.log.file.empty()) {
    const Place log = place(opts.log.file);
    if (isWithin(log.real, mnt.real)) {
      problems.add("log.file: " + log.shown() + " is inside the mountpoint " + mnt.shown());
    }
  }
  if (localSource && !cache.real.empty()) {
    if (isWithin(cache.real, source.real)) {
      problems.add("cache.dir: " + cache.shown() + " is inside origin.source " + source.shown());
    } else if (isWithin(source.real, cache.real)) {
      problems.add("cache.dir: " + cache.shown() + " contains origin.source " + source.shown());
    }
  }
}

// Checked whatever the source, so a mistake in a shared config file shows up at once rather
// than the first time it is used with a bucket.
void validateS3(Problems& problems, S3Options& s3) {
  problems.add("s3.endpoint", checks::s3Endpoint(s3.endpoint));
  problems.add("s3.region", checks::s3Region(s3.region));
  problems.add("s3.addressing", checks::s3Addressing(s3.addressing));
  checkPath(problems, "s3.ca_bundle", s3.caBundle);
  checkPath(problems, "s3.credentials_file", s3.credentials.file);
  problems.add("s3.access_key_env", checks::envName(s3.credentials.accessKeyEnv));
  problems.add("s3.secret_key_env", checks::envName(s3.credentials.secretKeyEnv));
  problems.add("s3.session_token_env", checks::envName(s3.credentials.sessionTokenEnv));
  if (s3.credentials.accessKeyEnv.empty() != s3.credentials.secretKeyEnv.empty()) {
    problems.add("s3.access_key_env, s3.secret_key_env: set both or neither");
  }
  problems.add("s3.connect_timeout", checks::positiveSeconds(s3.connectTimeoutSec));
  problems.add("s3.low_speed_time", checks::positiveSeconds(s3.lowSpeedTimeSec));
  if (s3.lowSpeedLimitBytes == 0) {
    problems.add("s3.low_speed_limit: must be at least 1 byte (per second)");
  }
  problems.add("s3.max_connections", checks::countInRange(s3.maxConnections, kMaxS3Connections));
  problems.add("s3.retry_max_attempts", checks::countInRange(s3.retry.maxAttempts, kMaxS3Attempts));
  const Status base = checks::attrTimeout(s3.retry.baseDelaySec);
  const Status max = checks::attrTimeout(s3.retry.maxDelaySec);
  problems.add("s3.retry_base_delay", base);
  problems.add("s3.retry_max_delay", max);
  if (base.isOk() && max.isOk() && s3.retry.baseDelaySec > s3.retry.maxDelaySec) {
    problems.add("s3.retry_base_delay: larger than s3.retry_max_delay");
  }
  problems.add("s3.retry_budget", checks::positiveSeconds(s3.retry.budgetSec));
}

}  // namespace

Status validate(MountOptions& opts) {
  Problems problems;

  bool sourceOk = false;
  if (opts.origin.source.empty()) {
    problems.add("no origin: give SOURCE or origin.source in the config");
  } else if (isUrl(opts.origin.source)) {
    sourceOk = true;
  } else {
    Status s = checks::path(opts.origin.source);
    if (s.isOk()) s = makeAbsolute(opts.origin.source);
    problems.add("origin.source", s);
    sourceOk = s.isOk();
  }

  if (sourceOk && opts.origin.source.starts_with("s3://")) {
    const std::string_view rest = std::string_view(opts.origin.source).substr(5);
    if (rest.empty() || rest.front() == '/') {
      problems.add("origin.source: '" + opts.origin.source +
                   "' names no bucket (use s3://BUCKET[/PREFIX])");
    }
  }
  validateS3(problems, opts.origin.s3);
  if (opts.metadata.ttlSec == kTtlUnset) {
    opts.metadata.ttlSec = opts.origin.source.starts_with("s3://") ? kTtlImmutable : 0.0;
  }

  problems.add("policy.name", checks::policyName(opts.policy.name));
  problems.add("log.level", checks::logLevel(opts.log.level));
  problems.add("fuse.threads", checks::fuseThreads(opts.fuse.threads));
  if (opts.policy.prefetchThreads == kPrefetchThreadsAuto) {
    // A prefetcher moves about one block per origin round trip, so over S3 the prefetch
    // keeps the link full only with many at once (docs/benchmarks.md, "Where a planned epoch
    // waits": 8 left a planned epoch at 82% hits, 24 at 99%); the connections left over are
    // the demand reads'.
    opts.policy.prefetchThreads = opts.origin.source.starts_with("s3://")
                                      ? opts.origin.s3.maxConnections * 3 / 4
                                      : kDirPrefetchThreads;
  }
  problems.add("policy.prefetch_threads", checks::prefetchThreads(opts.policy.prefetchThreads));
  if (opts.origin.source.starts_with("s3://") &&
      opts.policy.prefetchThreads >= opts.origin.s3.maxConnections) {
    // Prefetch starts only while the connections leave room for every prefetcher and the
    // reads waiting: with this many prefetchers it never would.
    problems.add("policy.prefetch_threads: " + std::to_string(opts.policy.prefetchThreads) +
                 " must be below s3.max_connections (" +
                 std::to_string(opts.origin.s3.maxConnections) +
                 "), or prefetch never starts; 0 turns it off");
  }
  problems.add("fuse.attr_timeout", checks::attrTimeout(opts.fuse.attrTimeoutSec));
  problems.add("fuse.read_ahead", checks::readAhead(opts.fuse.readAheadBytes));

  const Status blockOk = checks::blockSize(opts.cache.blockSizeBytes);
  problems.add("cache.block_size", blockOk);
  if (blockOk.isOk() && opts.cache.randomBlockSizeBytes != 0 &&
      opts.cache.randomBlockSizeBytes * 2 > opts.cache.blockSizeBytes) {
    problems.add("cache.random_block_size: " + formatSize(opts.cache.randomBlockSizeBytes) +
                 " must be at most half of cache.block_size (" +
                 formatSize(opts.cache.blockSizeBytes) + ")");
  }
  // Fewer than a handful of blocks thrashes on every read; 16 MiB also leaves the index room.
  const uint64_t minCache =
      std::max(kMinCacheSize, blockOk.isOk() ? kMinCacheBlocks * opts.cache.blockSizeBytes : 0);
  if (opts.cache.sizeBytes < minCache) {
    problems.add("cache.size: " + formatSize(opts.cache.sizeBytes) + " is too small (at least " +
                 formatSize(minCache) + ": " + std::to_string(kMinCacheBlocks) +
                 " blocks of cache.block_size and no less than " + formatSize(kMinCacheSize) + ")");
  }

  checkPath(problems, "cache.dir", opts.cache.dir);
  if (opts.cache.dir.empty() && sourceOk) opts.cache.dir = defaultCacheDir(opts.origin.source);
  checkPath(problems, "log.file", opts.log.file);
  if (opts.log.file.empty() && !opts.foreground && !opts.cache.dir.empty()) {
    opts.log.file = opts.cache.dir + "/epochfs.log";
  }

  checkOverlaps(problems, opts, sourceOk && !isUrl(opts.origin.source));
  return problems.status();
}

}  // namespace epochfs::config
