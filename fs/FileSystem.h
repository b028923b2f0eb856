// fs/FileSystem.h: what the FUSE callbacks do, without FUSE types.
//
// FuseOps.cc turns each kernel request into one call here and the result into one reply.
// Metadata (lookup, getattr, readdir) comes from the Namespace (the origin, or a snapshot of
// it); file bytes come through the BlockCache. FileSystem itself never calls the origin: it
// holds it const (stat, list and read are not), for its description and integrity counters,
// beside the counters of the calls the others make to it (for .epochfs/stats). The mount is
// read-only: mutating requests are answered in FuseOps with EROFS.
//
// Consistency: attributes and entries are cached by the kernel for fuse.attr_timeout. open()
// revalidates the file in the Namespace (close-to-open, as NFS does; with a snapshot this costs
// no request): a changed etag drops the kernel's page cache and cached attributes of the file
// (through the KernelNotifier) and every later read uses the new version. An open file keeps reading the version it opened: reads of a version
// that disappeared fail with ESTALE, never with mixed bytes, and revalidate the file so that
// the next open reads the new version.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/BlockCache.h"
#include "common/Status.h"
#include "common/StringHash.h"
#include "config/Options.h"
#include "fs/ControlFiles.h"
#include "fs/ControlIoctl.h"
#include "fs/FuseRequestCounts.h"
#include "fs/InodeTable.h"
#include "fs/Namespace.h"
#include "fs/Passthrough.h"
#include "fs/PlanParser.h"
#include "origin/Origin.h"

namespace epochfs::fs {

struct NodeAttr {
  uint64_t ino = 0;
  bool isDir = false;
  uint64_t size = 0;
  int64_t mtimeNs = 0;
  uint32_t perm = 0444;  // permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// An open file: a dataset file (a fixed version) or a control file (a rendered snapshot).
struct OpenFile {
  bool isControl = false;
  uint64_t ino = 0;
  cache::FileRef file;  // dataset files
  bool keepCache = false;  // the kernel may keep its page cache of this file
  // How the kernel serves it (Passthrough.h); kPassthrough names backing file `backingId`.
  IoMode io = IoMode::kCached;
  int backingId = 0;
  bool tracked = false;  // counted by passthrough_: release() must end it there
  std::string content;  // control files
  // .epochfs/plan: the plan being sent (kIocPlanAppend) and by whom (the stream).
  std::unique_ptr<PlanParser> plan;
  bool planResumes = false;  // the plan being sent resumes the current epoch (kPlanResumes)
  uint64_t stream = 0;
  // Why the last control ioctl on this handle failed (kIocLastError); empty if none did.
  std::string lastError;
};

// An open directory: its listing, taken at opendir.
struct OpenDir {
  uint64_t ino = 0;
  std::string key;
  std::vector<origin::DirEntry> entries;
  // The kernel may keep this listing and answer later readdirs of the directory itself
  // (FOPEN_CACHE_DIR with keep_cache): an immutable namespace, whose listings change only at
  // a refresh, which invalidates the directories whose names changed.
  bool kernelMayCache = false;
};

struct FsStat {
  uint64_t blockSize = 4096;
  uint64_t totalBlocks = 0;
  uint64_t freeBlocks = 0;
  uint64_t files = 0;      // inodes in use plus freeFiles
  uint64_t freeFiles = 0;  // kFreeInodes: a read-only mount never runs out
};

// Lets FileSystem tell the kernel to forget what it cached (FuseServer implements it).
class KernelNotifier {
 public:
  virtual ~KernelNotifier() = default;
  // The name `name` in directory `parent` (positive or negative dentry).
  virtual void invalidateEntry(uint64_t parent, const std::string& name) = 0;
  // The attributes and page cache of `ino`.
  virtual void invalidateInode(uint64_t ino) = 0;
};

class FileSystem {
 public:
  // Fails if the origin root cannot be stat'ed (in `ns`). `counters` are those of the calls to
  // `origin` (InstrumentedOrigin::counters()), reported by .epochfs/stats. All but `opts` must
  // outlive this.
  static Result<std::unique_ptr<FileSystem>> create(const config::MountOptions& opts,
                                                    const origin::Origin& origin,
                                                    const origin::OriginCounters& counters,
                                                    Namespace& ns, cache::BlockCache& cache);
  // Queued listings use ns_ and this: they are dropped (or waited for) first.
  ~FileSystem() { cache_.cancelDiscovery(); }
  FileSystem(const FileSystem&) = delete;
  FileSystem& operator=(const FileSystem&) = delete;

  // Counts one kernel lookup of the returned inode.
  Result<NodeAttr> lookup(uint64_t parent, std::string_view name);
  void forget(uint64_t ino, uint64_t n);
  Result<NodeAttr> getattr(uint64_t ino);

  // `flags` are open(2) flags; any write access is kReadOnly (the kernel refuses it first on
  // the ro mount). `caller` is the opening process (plans are told apart by it).
  Result<std::unique_ptr<OpenFile>> open(uint64_t ino, int flags, uint64_t caller = 0);
  Result<size_t> read(const OpenFile& f, uint64_t offset, std::span<std::byte> out);
  // An ioctl on open file `f` of inode `ino` (fs/ControlIoctl.h has the commands and their
  // errors): `in` holds the bytes the kernel copied in for `cmd`; on success the reply holds
  // exactly the bytes it copies out (empty for commands without output). A failure is also
  // kept in f.lastError for kIocLastError. kNotSupported (ENOTTY) for an unknown command or
  // a file that has none; kInvalid for an argument of the wrong size.
  Result<std::string> ioctl(uint64_t ino, OpenFile& f, uint32_t cmd, std::string_view in);
  // The last close of `f` (also an open whose reply never reached the kernel): a plan sent
  // but not committed is discarded; a dataset file's passthrough hand-out ends.
  void release(OpenFile& f);

  // From now on, opens of files the cache holds whole are handed to the kernel through
  // `kernel` (Passthrough.h); call before the first open. `kernel` must outlive this or
  // disablePassthrough().
  void enablePassthrough(BackingFiles& kernel);
  // No more passthrough; `reason` is shown in .epochfs/stats. Opens still out stay valid.
  void disablePassthrough(std::string reason);
  // The requests the kernel sent, for .epochfs/stats (null: none shown); must outlive this
  // or the next call.
  void setRequestCounts(const FuseRequestCounts* counts) { requestCounts_ = counts; }

  Result<std::unique_ptr<OpenDir>> opendir(uint64_t ino);
  // For readdirplus: the attributes of entry `index` of `dir`, counting one kernel lookup.
  NodeAttr lookupEntry(const OpenDir& dir, size_t index);
  // Attributes of a listed entry without counting a lookup (plain readdir).
  NodeAttr peekEntry(const OpenDir& dir, size_t index) const;

  // Where refresh() reports names and inodes the kernel must forget; may stay unset.
  void setKernelNotifier(KernelNotifier* notifier) { notifier_ = notifier; }

  // The cache as a disk (total = cache.size, used = what it occupies). Inodes: the ones the
  // kernel holds, plus kFreeInodes free, so `df -i` shows the mount nearly unused instead of
  // 100% full (no file can be created, but a full inode table sets off monitoring).
  FsStat statfs() const;
  // 2^31: large enough to read as "plenty" and small enough that the total stays within the
  // 32-bit fields of the old statfs(2), which fails with EOVERFLOW above 2^32 - 1.
  static constexpr uint64_t kFreeInodes = 1ULL << 31;
  std::string statsJson() const;
  // Seconds the kernel may keep entries and attributes: fuse.attr_timeout, raised to
  // kImmutableAttrTimeoutSec for an immutable namespace (metadata.ttl), which changes only at
  // `epochfs refresh`, and refresh tells the kernel what changed (revalidateAfterRefresh): a
  // longer timeout cannot show anything staler, and saves a LOOKUP per file per epoch. 0 (no
  // kernel caching) stays 0.
  double attrTimeoutSec() const;
  static constexpr double kImmutableAttrTimeoutSec = 24 * 3600.0;

 private:
  FileSystem(const config::MountOptions& opts, const origin::Origin& origin,
             const origin::OriginCounters& counters, Namespace& ns, cache::BlockCache& cache,
             origin::ObjectInfo rootInfo);
  Result<NodeAttr> controlLookup(uint64_t parent, std::string_view name) const;
  bool immutableNamespace() const { return opts_.metadata.ttlSec == config::kTtlImmutable; }
  // Whether a read revalidated `key` in the namespace since its last open (and forgets it).
  bool takeRevalidated(const std::string& key);
  // After the namespace was refreshed: updates every live inode from it and tells the kernel
  // to forget changed, removed and newly appeared names. `before` maps each live directory's
  // key to its entry names before the refresh.
  void revalidateAfterRefresh(
      const std::unordered_map<std::string, std::vector<std::string>>& before);
  NodeAttr controlAttr(uint64_t ino) const;
  // FileSystemControl.cc: the commands behind ioctl(), without decoding.
  Result<std::string> dispatchIoctl(uint64_t ino, OpenFile& f, uint32_t cmd,
                                    std::string_view in);
  Status refresh();
  // FileSystemPlan.cc: the plan commands. planAppend refuses early (a malformed line, the
  // plan past kMaxPlanBytes); planCommit resolves the paths, hands the files to the cache
  // and starts an empty plan.
  Status planAppend(OpenFile& f, std::string_view text);
  Result<PlanResult> planCommit(OpenFile& f);
  void planAbort(OpenFile& f);
  // The last close of a .epochfs/plan handle: a plan sent but not committed is logged as
  // discarded.
  void planRelease(const OpenFile& f);
  // Drops the origin's entry named .epochfs from a listing of the root (logged once).
  void hideReservedName(std::vector<origin::DirEntry>& rootEntries);
  // FileSystemDiscover.cc. Listing-driven prefetch (policy.prefetch_listed): the first open
  // in a directory (once per directory per refresh) has the cache's prefetcher list it and
  // take its files as prefetch candidates (BlockCache::discoverLater), so that an open never
  // waits for a listing (a directory origin lists at every call).
  void discoverDirOf(const std::string& fileKey);
  // The files of `dir` as the prefetcher gets them (run on a prefetch worker).
  std::vector<cache::FileRef> listForDiscovery(const std::string& dir);
  // The origin's mode and owner when it has them (origin::ObjectInfo::mode), else 0444 files
  // and 0555 directories owned by the mounting user.
  NodeAttr toAttr(uint64_t ino, const origin::ObjectInfo& info) const;

  const config::MountOptions opts_;
  const origin::Origin& origin_;  // for describe() and integrity() only
  const origin::OriginCounters& originCounters_;
  Namespace& ns_;
  cache::BlockCache& cache_;
  InodeTable inodes_;
  const int64_t mountTimeNs_;
  // Who mounted (the daemon's real ids): the owner of the control files and of entries of an
  // origin without owners (S3).
  const uint32_t ownerUid_;
  const uint32_t ownerGid_;
  KernelNotifier* notifier_ = nullptr;
  const FuseRequestCounts* requestCounts_ = nullptr;
  // Set before the first open, reset after the last release (by FuseServer): no lock needed.
  std::unique_ptr<Passthrough> passthrough_;
  std::string passthroughOff_ = "not negotiated yet";
  std::atomic<bool> reservedNameLogged_{false};
  mutable std::mutex planMu_;
  PlanCounters plans_;  // guarded by planMu_
  std::mutex discoverMu_;  // guards discoveredDirs_
  std::mutex revalidatedMu_;  // guards revalidated_
  // Immutable namespace: keys a read found changed at the origin and revalidated, whose
  // inodes the next open updates (takeRevalidated).
  std::unordered_set<std::string> revalidated_;
  // Looked up by string_view: an open of a file in a known directory allocates nothing.
  std::unordered_set<std::string, StringHash, std::equal_to<>> discoveredDirs_;
};

}  // namespace epochfs::fs
