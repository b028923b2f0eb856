// origin/Origin.h: the boundary between the cache and the authoritative store.
//
// fs/ asks the origin for metadata (stat, list) and cache/ asks it for bytes (read) on a miss.
// Keys are '/'-separated paths relative to the origin root, without a leading or trailing
// slash; "" is the root directory. A key never contains an empty, "." or ".." component or a
// NUL byte (checkKey()); every implementation answers such a key with kInvalid, so no key can
// reach outside the origin root. Names are bytes: spaces, '%', '+', UTF-8 and so on pass
// through untouched. Implementations: PosixOrigin (a local or NFS directory), S3Origin;
// test doubles live in origin/testing/ (MemoryOrigin, FaultyOrigin). The contract suite in
// origin/tests/OriginContract.h runs against every implementation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/Status.h"

namespace epochfs::config {
struct OriginOptions;
}

namespace epochfs::origin {

enum class EntryType { kFile, kDirectory };

struct ObjectInfo {
  // `mode` of an origin that has no permissions of its own (S3): the mount shows 0444 files
  // and 0555 directories, owned by the user who mounted it.
  static constexpr uint16_t kNoMode = 0xffff;

  EntryType type = EntryType::kFile;
  uint64_t size = 0;     // 0 for directories
  std::string etag;      // changes whenever the object's bytes may have changed; "" for dirs
  int64_t mtimeNs = 0;   // modification time, nanoseconds since the epoch
  // The origin's permission bits, read and execute only (mode & 0555: the mount is read-only),
  // or kNoMode; with a mode, the origin's owner and group (else 0).
  uint16_t mode = kNoMode;
  uint32_t uid = 0;
  uint32_t gid = 0;

  bool hasMode() const { return mode != kNoMode; }
  // Same permissions and owner (what the kernel's permission checks see).
  bool sameAccess(const ObjectInfo& o) const {
    return mode == o.mode && uid == o.uid && gid == o.gid;
  }
};

struct DirEntry {
  std::string name;  // one path component
  ObjectInfo info;
};

struct TreeEntry {
  std::string key;  // the full origin key ("dir/sub/c.txt"), not just the name
  ObjectInfo info;
};

// What an origin checked of the bytes its reads returned (S3: origin/s3/Integrity.h).
struct IntegrityStats {
  // "s3": S3 checksums and MD5 ETags checked; "off": s3.verify_integrity is false; "none": the
  // origin gives nothing to check against (a directory).
  std::string mode = "none";
  uint64_t verifiedReads = 0;    // reads whose bytes matched what the origin says the object is
  uint64_t verifiedBytes = 0;
  uint64_t unverifiedReads = 0;  // reads with nothing to check against (see docs/semantics.md)
  uint64_t unverifiedBytes = 0;
  uint64_t mismatches = 0;       // answers whose bytes did not match (each one retried)
  uint64_t failedReads = 0;      // reads that failed because every attempt mismatched
};

// Thread-safe. Calls may block (disk, network).
class Origin {
 public:
  virtual ~Origin() = default;

  // For logs and errors: "posix:/data/imagenet".
  virtual std::string describe() const = 0;

  // A file or a directory; stat("") is the root directory. A key below a file ("a.jpg/x") is
  // kNotFound. Errors: kNotFound, kInvalid (malformed key), kPermissionDenied, kUnavailable,
  // kIo.
  virtual Result<ObjectInfo> stat(std::string_view key) = 0;

  // The entries of directory `key`, sorted by name (bytewise). Entries that are neither
  // regular files nor directories (sockets, broken links...) are left out. Each entry's info
  // is what stat(joinKey(key, name)) would return at that moment.
  // Errors: kNotFound, kNotDirectory (`key` is a file), kInvalid, kPermissionDenied,
  // kUnavailable, kIo.
  virtual Result<std::vector<DirEntry>> list(std::string_view key) = 0;

  // Reads [offset, offset + out.size()) of file `key` into `out`; returns the number of bytes
  // read, short only at the end of the object. Fails with kStale if the object's etag is no
  // longer `etag` (so bytes of two versions are never mixed), kNotFound, kIsDirectory,
  // kInvalid, kPermissionDenied, kIo, kUnavailable. Reading at or past the end returns 0.
  virtual Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                              std::span<std::byte> out) = 0;

  // Everything below directory `key` ("" = the whole origin) in one call: every file and every
  // directory at any depth (not `key` itself), each with its full key and the info list()
  // would give it, sorted by key (bytewise). For taking a namespace snapshot in one pass. The
  // default walks list() depth-first, one call per directory; S3Origin overrides it with a
  // flat listing (one request per 1000 objects). Errors: as list() for `key` (kNotFound,
  // kNotDirectory, ...); a directory that vanishes during the walk is left out.
  virtual Result<std::vector<TreeEntry>> listRecursive(std::string_view key);

  // Requests the origin serves at once before callers queue (S3: s3.max_connections), or 0
  // when there is no such limit (a directory). The cache keeps prefetch out of the way of
  // demand reads within it.
  virtual unsigned maxConcurrency() const { return 0; }

  // Counters of the checks of read bytes against the origin's own checksums, since
  // construction.
  virtual IntegrityStats integrity() const { return {}; }
};

// Counters kept by InstrumentedOrigin; all monotonic since construction.
struct OriginCounters {
  std::atomic<uint64_t> requests{0};      // stat + list + read calls
  std::atomic<uint64_t> readRequests{0};  // read calls
  std::atomic<uint64_t> listRequests{0};
  std::atomic<uint64_t> statRequests{0};
  std::atomic<uint64_t> bytes{0};         // bytes returned by read
  std::atomic<uint64_t> errors{0};        // calls that failed (kNotFound from stat excluded)
};

// Wraps any origin and counts its calls; what .epochfs/stats reports under "origin".
class InstrumentedOrigin final : public Origin {
 public:
  explicit InstrumentedOrigin(std::unique_ptr<Origin> inner) : inner_(std::move(inner)) {}

  std::string describe() const override { return inner_->describe(); }
  Result<ObjectInfo> stat(std::string_view key) override;
  Result<std::vector<DirEntry>> list(std::string_view key) override;
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override;
  // Counted as one list request, however many the inner origin makes.
  Result<std::vector<TreeEntry>> listRecursive(std::string_view key) override;
  unsigned maxConcurrency() const override { return inner_->maxConcurrency(); }
  IntegrityStats integrity() const override { return inner_->integrity(); }

  const OriginCounters& counters() const { return counters_; }

 private:
  std::unique_ptr<Origin> inner_;
  OriginCounters counters_;
};

// Picks the implementation from the source (not wrapped; the caller wraps it in
// InstrumentedOrigin):
//   - "s3://BUCKET[/PREFIX]" -> S3Origin (origin/s3/S3Origin.h) configured by opts.s3, after
//     one cheap request that checks endpoint, credentials and bucket (a few seconds at most).
//     Errors name the cause: kUnavailable (endpoint unreachable), kPermissionDenied (unknown
//     access key, wrong secret, access denied), kNotFound (no such bucket), kInvalid (bad
//     source, no credentials, wrong region).
//   - a local directory -> PosixOrigin. A relative path is made absolute against the current
//     directory, so a daemon that later chdir()s to "/" still finds it. Errors name the
//     source: kInvalid for an empty source, an unsupported scheme or a path that is not a
//     directory; kNotFound for a missing path; kPermissionDenied.
Result<std::unique_ptr<Origin>> makeOrigin(const config::OriginOptions& opts);

// After makeOrigin(): overwrites and removes the environment variables that held the origin's
// secrets (S3: origin/s3/Credentials.h scrubSecretEnv), so that the daemon's
// /proc/PID/environ, a core dump and any child show none. Nothing for a directory.
void scrubOriginSecrets(const config::OriginOptions& opts);

// Joins a directory key and a name: join("", "a") == "a", join("a", "b") == "a/b".
std::string joinKey(std::string_view dir, std::string_view name);
// The inverse: splits "a/b/c" into ("a/b", "c") and "c" into ("", "c").
std::pair<std::string_view, std::string_view> splitKey(std::string_view key);

// OK if `key` is well formed (see the top of this file), else kInvalid naming the key.
Status checkKey(std::string_view key);

}  // namespace epochfs::origin
