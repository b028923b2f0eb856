// fs/Namespace.h: which files and directories exist, and their sizes and etags.
//
// FileSystem asks the Namespace, never the Origin directly, for stat and list. Three modes,
// from metadata.ttl:
//   passthrough (ttl 0)   every stat and list goes to the origin: right for a local or NFS
//                         directory, where a stat costs microseconds (the default there).
//   cached (ttl > 0)      a directory's listing is fetched once and reused for ttl seconds; a
//                         stat is answered from its parent's listing.
//   immutable             the whole tree is listed once and kept as a snapshot in the cache's
//                         index (NamespaceSnapshot), where every stat and list reads it: the
//                         tree is not held in memory. A remount finds it there and sends no
//                         LIST at all. `refresh()` re-lists (`epochfs refresh`). The default for
//                         object stores, where a LIST of a large bucket takes minutes.
// In the snapshot modes a file whose read finds it changed at the origin (kStale) is
// revalidated with invalidate(): one stat at the origin updates its entry, so the next open
// reads the new version.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/NamespaceStore.h"
#include "common/Status.h"
#include "fs/NamespaceSnapshot.h"
#include "origin/Origin.h"

namespace epochfs::fs {

struct NamespaceOptions {
  // < 0: immutable snapshot; 0: passthrough; > 0: listings reused for this many seconds.
  double ttlSec = 0;
  // Identifies the origin in the persisted snapshot: a snapshot of another source is ignored.
  std::string source;
  // The clock listings expire by (ttl mode). Null: std::chrono::steady_clock::now; a test's
  // moves when the test moves it.
  std::function<std::chrono::steady_clock::time_point()> now;
};

struct NamespaceStats {
  std::string mode;          // "passthrough", "ttl" or "immutable"
  uint64_t directories = 0;  // immutable: in the snapshot (the root included); ttl: held
  uint64_t entries = 0;      // files and directories in them
  bool loadedFromSnapshot = false;  // immutable: the tree came from the persisted snapshot
  double snapshotAgeSec = 0;        // immutable: seconds since the tree was listed
  uint64_t refreshes = 0;
};

class Namespace {
 public:
  // In immutable mode, loads the persisted snapshot of opts.source or lists the whole origin
  // (and persists it); errors of that listing fail the open.
  static Result<std::unique_ptr<Namespace>> open(const NamespaceOptions& opts,
                                                 origin::Origin& origin,
                                                 cache::NamespaceStore& store);

  Result<origin::ObjectInfo> stat(std::string_view key);
  Result<std::vector<origin::DirEntry>> list(std::string_view key);

  // Re-lists the whole origin (immutable) or forgets every listing (ttl); passthrough: no-op.
  Status refresh();
  // The file at `key` changed at the origin: stat it there and update its entry.
  Status invalidate(std::string_view key);

  NamespaceStats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Listing {
    std::vector<origin::DirEntry> entries;  // sorted by name
    Clock::time_point fetched;
  };

  Namespace(NamespaceOptions opts, origin::Origin& origin, cache::NamespaceStore& store)
      : opts_(std::move(opts)), origin_(origin), snapshot_(store, opts_.source) {}
  Clock::time_point now() const { return opts_.now ? opts_.now() : Clock::now(); }

  bool passthrough() const { return opts_.ttlSec == 0; }
  bool immutable() const { return opts_.ttlSec < 0; }
  // The root directory's info, from the origin.
  Result<origin::ObjectInfo> rootOfOrigin();
  // ttl: takes the root's info from the origin into rootInfo_.
  Status statRoot();
  // ttl: the listing of directory `key`, fetched if absent or expired.
  Result<std::shared_ptr<const Listing>> listing(std::string_view key);

  const NamespaceOptions opts_;
  origin::Origin& origin_;
  NamespaceSnapshot snapshot_;  // immutable only

  mutable std::shared_mutex mu_;  // guards tree_ and rootInfo_
  std::unordered_map<std::string, std::shared_ptr<const Listing>> tree_;  // ttl only
  origin::ObjectInfo rootInfo_;  // ttl only: as of open or the last refresh
  std::atomic<bool> loadedFromSnapshot_{false};
  std::mutex refreshMu_;  // one refresh at a time
  std::atomic<uint64_t> refreshes_{0};
};

}  // namespace epochfs::fs
