// config/Options.h: plain option structs, one per module, with their defaults.
//
// config/ turns a YAML file plus command-line overrides into these structs (ConfigLoader.h).
// Every other module takes its own struct in its constructor and reads no globals. Only
// config/ includes yaml-cpp. Every field is documented in docs/config.md.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/PolicyNames.h"
#include "common/Status.h"

namespace epochfs::config {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;
inline constexpr uint64_t kTiB = 1024 * kGiB;

// Limits that validate() enforces; docs/config.md quotes them.
inline constexpr uint64_t kMinBlockSize = 64 * kKiB;   // also the granularity of block_size
inline constexpr uint64_t kMaxBlockSize = 256 * kMiB;
inline constexpr uint64_t kMaxReadAhead = 1 * kGiB;
inline constexpr uint64_t kMinCacheSize = 16 * kMiB;   // and at least kMinCacheBlocks blocks
inline constexpr uint64_t kMinCacheBlocks = 4;
inline constexpr int kMaxFuseThreads = 1024;

// policy.name's default.
inline constexpr std::string_view kDefaultPolicy = "epoch";
static_assert(std::ranges::any_of(kPolicies,
                                  [](const PolicyName& p) {
                                    return p.name == kDefaultPolicy && !p.needsPlan;
                                  }),
              "the default policy must be one that a mount may run");
// The values policy.name accepts: those of kPolicies (common/PolicyNames.h) that need no plan,
// each of which policy::makePolicy() builds. The default first, then in kPolicies' order, as
// docs/config.md and `epochfs mount --help` list them: epoch, lru, fixed.
inline constexpr std::array<std::string_view, kMountablePolicies> kPolicyNames = [] {
  std::array<std::string_view, kMountablePolicies> names{};
  size_t n = 0;
  names[n++] = kDefaultPolicy;
  for (const PolicyName& p : kPolicies) {
    if (!p.needsPlan && p.name != kDefaultPolicy) names[n++] = p.name;
  }
  return names;
}();
inline constexpr int kMaxPrefetchThreads = 256;
// policy.prefetch_threads "auto" (the default) until validate() picks a number.
inline constexpr int kPrefetchThreadsAuto = -1;
// What auto picks with a directory origin.
inline constexpr int kDirPrefetchThreads = 8;
// The values log.level accepts, most verbose first.
inline constexpr std::array<std::string_view, 6> kLogLevels = {"trace", "debug", "info",
                                                               "warn",  "error", "off"};

// Limits that validate() enforces on the s3 section; docs/config.md quotes them.
inline constexpr int kMaxS3Connections = 1024;
inline constexpr int kMaxS3Attempts = 100;
// The values s3.addressing accepts.
inline constexpr std::array<std::string_view, 3> kS3Addressings = {"auto", "path", "virtual"};

// Where S3 credentials come from when set; all empty means the standard AWS places (see
// origin/s3/Credentials.h for the order). Names and paths only: a secret never sits in the
// config, so it can never be echoed back from it.
struct S3CredentialOptions {
  // An AWS shared-credentials file (INI). YAML: s3.credentials_file. Default: "" (not used).
  std::string file;
  // Profile (INI section) in that file or in the standard one. YAML: s3.profile. Default: ""
  // ($AWS_PROFILE, else "default").
  std::string profile;
  // Names of environment variables that hold the access key id, the secret and the session
  // token. YAML: s3.access_key_env, s3.secret_key_env, s3.session_token_env. Default: "" (the
  // standard AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
  std::string accessKeyEnv;
  std::string secretKeyEnv;
  std::string sessionTokenEnv;
};

struct S3RetryOptions {
  // Attempts per request, the first included. YAML: s3.retry_max_attempts. Default: 6.
  // Range: 1..100.
  int maxAttempts = 6;
  // Backoff before retry n (0-based) is uniform in [0, min(max_delay, base_delay * 2^n)]
  // ("full jitter"). YAML: s3.retry_base_delay, s3.retry_max_delay (seconds). Defaults: 0.1,
  // 5. Range: >= 0, base <= max.
  double baseDelaySec = 0.1;
  double maxDelaySec = 5.0;
  // No retry starts later than this many seconds after the first attempt did.
  // YAML: s3.retry_budget. Default: 30. Range: > 0.
  double budgetSec = 30.0;
};

// Options of an s3:// origin; ignored for other sources. YAML: the `s3` section.
struct S3Options {
  // "http[s]://host[:port]" of an S3-compatible store (Ceph RGW, MinIO). YAML: s3.endpoint.
  // Default: "" = AWS S3 (https://s3.<region>.amazonaws.com).
  std::string endpoint;
  // Signing region. YAML: s3.region. Default: us-east-1.
  std::string region = "us-east-1";
  // "path" (ENDPOINT/BUCKET/KEY), "virtual" (BUCKET.ENDPOINT/KEY) or "auto": path when an
  // endpoint is set or the bucket name has a '.', virtual for AWS. YAML: s3.addressing.
  // Default: auto.
  std::string addressing = "auto";
  // Verify the server's TLS certificate. YAML: s3.verify_tls. Default: true.
  bool verifyTls = true;
  // Check every GET that returns a whole object against the object's checksum (an additional
  // S3 checksum, else an ETag that is an MD5), retrying a mismatch. YAML:
  // s3.verify_integrity. Default: true.
  bool verifyIntegrity = true;
  // A PEM file of CA certificates to verify against instead of the system's. YAML:
  // s3.ca_bundle. Default: "" (the system's). validate() makes it absolute.
  std::string caBundle;
  S3CredentialOptions credentials;
  // Seconds to wait for a TCP (and TLS) connection. YAML: s3.connect_timeout. Default: 5.
  // Range: > 0.
  double connectTimeoutSec = 5.0;
  // A transfer slower than low_speed_limit bytes/s for low_speed_time seconds is aborted (and
  // retried): this is what catches a stalled connection. YAML: s3.low_speed_time (seconds),
  // s3.low_speed_limit (a size per second). Defaults: 15, 1KiB. Range: time > 0, limit >= 1.
  double lowSpeedTimeSec = 15.0;
  uint64_t lowSpeedLimitBytes = 1 * kKiB;
  // The most requests in flight (and open connections) at once. YAML: s3.max_connections.
  // Default: 32. Range: 1..1024.
  int maxConnections = 32;
  S3RetryOptions retry;
};

struct OriginOptions {
  // Where the dataset lives: a local directory path, or "s3://BUCKET[/PREFIX]".
  // YAML: origin.source. Required (from the file or the SOURCE argument). validate() makes a
  // local path absolute and lexically normal ("data/x/" -> "/home/u/data/x"); a URL
  // ("scheme://...") is kept as written.
  std::string source;
  // For an s3:// source. YAML: the top-level `s3` section. The mount flags --endpoint and
  // --region set s3.endpoint and s3.region.
  S3Options s3;
};

struct CacheOptions {
  // Directory holding cached blocks and the RocksDB index. YAML: cache.dir.
  // Default: /var/cache/epochfs/<name derived from the source> (see defaultCacheDir()).
  // validate() makes it absolute.
  std::string dir;
  // Hard limit on the disk space the cache dir may use (blocks + index). YAML: cache.size.
  // Default: 10 GiB. At least 16 MiB and at least 4 blocks.
  uint64_t sizeBytes = 10 * kGiB;
  // Keep at least this much free space on the cache filesystem; blocks are evicted or not
  // cached to keep it. YAML: cache.min_free. Default: 1 GiB. 0 turns the check off.
  uint64_t minFreeBytes = 1 * kGiB;
  // Files are cached in blocks of this size; a smaller file is one block. YAML:
  // cache.block_size. Default: 4 MiB. Range: 64 KiB .. 256 MiB, a multiple of 64 KiB.
  uint64_t blockSizeBytes = 4 * kMiB;
  // Large files read at random offsets (records inside HDF5, LMDB, .npy files) are cut into
  // smaller blocks, their grain: about their readers' request size (cache/FileGrains.h).
  // YAML: cache.random_block_size: `auto` (the default: learned per file from its reads),
  // `off` (every file in blocks of block_size), or a size (that grain for every file found
  // read at random: a power of two, 64 KiB .. half of block_size).
  bool randomGrains = true;
  uint64_t randomBlockSizeBytes = 0;  // 0: auto
  // A file handed to the kernel whole (FUSE passthrough) is verified in full at every such
  // open (false: "open"), or only at the first one of each cached version in this mount
  // (true: "once"; again after a restart, and after any of its blocks is refetched). YAML:
  // fuse.passthrough_verify. Default: open.
  bool verifyHandOutsOnce = false;
};

struct PolicyOptions {
  // Eviction/admission policy: "epoch", "lru" or "fixed". YAML: policy.name. Default: "epoch".
  std::string name = std::string(kDefaultPolicy);
  // Background prefetchers (policies that prefetch: epoch). YAML: policy.prefetch_threads.
  // Default: auto (kPrefetchThreadsAuto until validate() picks: with an S3 origin three
  // quarters of s3.max_connections, since a prefetcher moves about one block per round trip
  // and prefetch must keep the link full; with a directory origin 8). Range: 0..256; 0 turns
  // prefetch off.
  int prefetchThreads = kPrefetchThreadsAuto;
  // Listing-driven prefetch: once a file of a directory is opened, the directory's other files
  // become prefetch candidates before their first read, so the first epoch is fetched with
  // prefetch_threads more requests in flight (the files must be wanted: a file still unread
  // when its epoch ends is dropped as a candidate and is the first victim). YAML:
  // policy.prefetch_listed. Default: true. Needs prefetch_threads > 0.
  bool prefetchListed = true;
};

struct FuseOptions {
  // Maximum FUSE worker threads. YAML: fuse.threads. Default: 16. Range: 1..1024.
  int threads = 16;
  // Seconds the kernel may cache attributes and directory entries. YAML:
  // fuse.attr_timeout. Default: 60. Range: finite, >= 0 (0 turns kernel caching off).
  double attrTimeoutSec = 60.0;
  // Let users other than the mounting one access the mount (FUSE allow_other).
  // YAML: fuse.allow_other. Default: false.
  bool allowOther = false;
  // Mount over a directory that is not empty, hiding its files while mounted (FUSE's option
  // name). Without it the mount command refuses such a mountpoint. YAML: fuse.nonempty.
  // Default: false.
  bool nonempty = false;
  // The kernel's read-ahead for the mount (its bdi's read_ahead_kb), set once the mount is
  // up; 0 leaves the kernel's default (128 KiB). Larger read-ahead turns a sequential reader's
  // 128 KiB FUSE reads into fewer, larger ones, and lets the kernel fetch ahead of it. YAML:
  // fuse.read_ahead. Default: 4MiB. Range: 0 .. 1GiB, a multiple of 4 KiB.
  uint64_t readAheadBytes = 4 * kMiB;
  // Whether the kernel may read cached files itself (FUSE passthrough, Linux 6.9+): auto
  // where the kernel, the daemon's privileges (CAP_SYS_ADMIN) and the cache filesystem allow
  // it, otherwise FUSE reads (one log line says why); on: the mount fails, naming the reason,
  // where it cannot be had; off: FUSE reads only. YAML: fuse.passthrough. Default: auto.
  enum class Passthrough { kAuto, kOn, kOff };
  Passthrough passthrough = Passthrough::kAuto;
};

// "auto", "on", "off", and back (kInvalid naming the accepted values).
std::string_view passthroughName(FuseOptions::Passthrough p);
Result<FuseOptions::Passthrough> parsePassthrough(std::string_view text);
// fuse.passthrough_verify: "open" (false) or "once" (true: CacheOptions::verifyHandOutsOnce).
Result<bool> parsePassthroughVerify(std::string_view text);

// metadata.ttl values besides a number of seconds.
inline constexpr double kTtlImmutable = -1.0;  // "immutable"
inline constexpr double kTtlUnset = -2.0;      // not configured: validate() picks by source

struct MetadataOptions {
  // How long what the origin said about names, sizes and etags is trusted. "immutable": the
  // whole tree is listed once and kept in the cache dir, so a remount sends no LIST request;
  // `epochfs refresh` re-lists. Seconds: a directory listing is reused that long (0: every
  // lookup asks the origin). YAML: metadata.ttl. Default: immutable for s3:// sources, 0 for
  // a directory (a local stat costs microseconds).
  double ttlSec = kTtlUnset;
};

struct LogOptions {
  // trace, debug, info, warn, error, off. YAML: log.level. Default: info.
  std::string level = "info";
  // Log file of a daemonized mount. YAML: log.file. Default: <cache.dir>/epochfs.log.
  // A foreground mount logs to stderr unless this is set: validate() fills the default only
  // when `foreground` is false, so an empty value after validate() means stderr.
  std::string file;
};

struct MountOptions {
  OriginOptions origin;
  CacheOptions cache;
  PolicyOptions policy;
  FuseOptions fuse;
  LogOptions log;
  MetadataOptions metadata;
  // Set only from the command line.
  std::string mountpoint;
  bool foreground = false;
};

// The cache dir used when none is configured: /var/cache/epochfs/<slug>-<hash8> for root,
// $XDG_CACHE_HOME or ~/.cache/epochfs/... otherwise, where slug is the source's last path
// component and hash8 a hash of the whole source string.
//
// Details: slug keeps [A-Za-z0-9._-] of that component (others become '_', at most 48
// characters, "origin" if nothing is left); hash8 is 8 lowercase hex digits of FNV-1a 64 of
// the source string exactly as given, xor-folded to 32 bits, so the same source maps to the
// same dir in every run, release and machine. validate() passes the normalized source, so
// "data/x/" and "/abs/data/x" share a dir. $XDG_CACHE_HOME counts only if absolute; without it
// and without $HOME, the passwd entry's home dir is used.
std::string defaultCacheDir(const std::string& source);

// The same, with the user and environment passed in instead of read from the process
// (asRoot: geteuid() == 0; an empty string_view means "unset").
std::string defaultCacheDir(const std::string& source, bool asRoot,
                            std::string_view xdgCacheHome, std::string_view home);

}  // namespace epochfs::config
