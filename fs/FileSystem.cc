#include "fs/FileSystem.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>

#include <spdlog/spdlog.h>

#include "fs/ControlFiles.h"

namespace epochfs::fs {
namespace {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool isValidName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos;
}

}  // namespace

Result<std::unique_ptr<FileSystem>> FileSystem::create(const config::MountOptions& opts,
                                                       const origin::Origin& origin,
                                                       const origin::OriginCounters& counters,
                                                       Namespace& ns, cache::BlockCache& cache) {
  auto root = ns.stat("");
  if (!root.isOk()) return root.status();
  if (root->type != origin::EntryType::kDirectory) {
    return Status(Code::kNotDirectory, origin.describe() + " is not a directory");
  }
  return std::unique_ptr<FileSystem>(new FileSystem(opts, origin, counters, ns, cache, *root));
}

FileSystem::FileSystem(const config::MountOptions& opts, const origin::Origin& origin,
                       const origin::OriginCounters& counters, Namespace& ns,
                       cache::BlockCache& cache, origin::ObjectInfo rootInfo)
    : opts_(opts), origin_(origin), originCounters_(counters), ns_(ns), cache_(cache),
      inodes_(std::move(rootInfo)), mountTimeNs_(nowNs()), ownerUid_(::getuid()),
      ownerGid_(::getgid()) {}

NodeAttr FileSystem::toAttr(uint64_t ino, const origin::ObjectInfo& info) const {
  NodeAttr a;
  a.ino = ino;
  a.isDir = info.type == origin::EntryType::kDirectory;
  a.size = a.isDir ? 0 : info.size;
  a.mtimeNs = info.mtimeNs;
  if (info.hasMode()) {
    // The origin's own: with default_permissions the kernel then refuses other users what
    // the origin refuses them, instead of the mount widening a 0600 file to everyone.
    a.perm = info.mode & 0555u;
    a.uid = info.uid;
    a.gid = info.gid;
  } else {
    a.perm = a.isDir ? 0555 : 0444;
    a.uid = ownerUid_;
    a.gid = ownerGid_;
  }
  return a;
}

NodeAttr FileSystem::controlAttr(uint64_t ino) const {
  NodeAttr a;
  a.ino = ino;
  a.mtimeNs = mountTimeNs_;
  a.uid = ownerUid_;
  a.gid = ownerGid_;
  if (ino == kControlDirIno) {
    a.isDir = true;
    a.perm = 0555;
  } else {
    // Size 0, like /proc: the content is rendered at open and read with direct I/O. The
    // mount is read-only: plan and refresh are opened O_RDONLY for their ioctls (and read
    // as empty).
    a.perm = 0444;
  }
  return a;
}

Result<NodeAttr> FileSystem::controlLookup(uint64_t parent, std::string_view name) const {
  if (parent == kRootIno && name == kControlDirName) return controlAttr(kControlDirIno);
  if (parent == kControlDirIno && name == kStatsName) return controlAttr(kStatsIno);
  if (parent == kControlDirIno && name == kRefreshName) return controlAttr(kRefreshIno);
  if (parent == kControlDirIno && name == kPlanName) return controlAttr(kPlanIno);
  return notFound(std::string(name));
}

Result<NodeAttr> FileSystem::lookup(uint64_t parent, std::string_view name) {
  if (parent == kControlDirIno || (parent == kRootIno && name == kControlDirName)) {
    return controlLookup(parent, name);
  }
  if (!isValidName(name)) return invalid("bad name");
  auto dir = inodes_.get(parent);
  if (!dir) return Status(Code::kStale, "unknown parent inode");
  if (dir->info.type != origin::EntryType::kDirectory) {
    return Status(Code::kNotDirectory, dir->key);
  }
  std::string key = origin::joinKey(dir->key, name);
  auto info = ns_.stat(key);
  if (!info.isOk()) return info.status();
  Inode node = inodes_.lookup(key, *info);
  return toAttr(node.ino, node.info);
}

void FileSystem::forget(uint64_t ino, uint64_t n) {
  if (!isControlIno(ino)) inodes_.forget(ino, n);
}

Result<NodeAttr> FileSystem::getattr(uint64_t ino) {
  if (isControlIno(ino)) return controlAttr(ino);
  if (ino == kRootIno) {
    // Every other inode is revalidated when the kernel looks its name up again; the root is
    // never looked up, so its getattr (once per fuse.attr_timeout) is when a chmod of the
    // origin root shows. With a snapshot or ttl this is answered from memory.
    auto info = ns_.stat("");
    if (info.isOk() && info->type == origin::EntryType::kDirectory) {
      inodes_.update(ino, *info);
      return toAttr(ino, *info);
    }
  }
  auto node = inodes_.get(ino);
  if (!node) return Status(Code::kStale, "unknown inode");
  return toAttr(ino, node->info);
}

Result<std::unique_ptr<OpenFile>> FileSystem::open(uint64_t ino, int flags, uint64_t caller) {
  auto f = std::make_unique<OpenFile>();
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    return Status(Code::kReadOnly, "read-only file system");
  }
  if (ino == kRefreshIno || ino == kPlanIno) {
    f->isControl = true;
    if (ino == kPlanIno) {
      f->plan = std::make_unique<PlanParser>();
      f->stream = caller;
    }
    return f;
  }
  if (ino == kStatsIno) {
    f->isControl = true;
    f->content = statsJson();
    return f;
  }
  if (isControlIno(ino)) return Status(Code::kIsDirectory, ".epochfs");
  auto node = inodes_.get(ino);
  if (!node) return Status(Code::kStale, "unknown inode");
  if (node->info.type == origin::EntryType::kDirectory) {
    return Status(Code::kIsDirectory, node->key);
  }
  // Close-to-open consistency: take the current version. An immutable namespace's is the
  // inode's own, so an open costs no lookup in it: the snapshot changes only at a refresh,
  // which updates every live inode (revalidateAfterRefresh), and when a read revalidates a
  // file (read()), which leaves the inode to its next open.
  Result<origin::ObjectInfo> info =
      immutableNamespace() && !takeRevalidated(node->key) ? Result<origin::ObjectInfo>(node->info)
                                                           : ns_.stat(node->key);
  if (!info.isOk()) return info.status();
  if (info->type != origin::EntryType::kFile) return Status(Code::kIsDirectory, node->key);
  f->keepCache = info->etag == node->info.etag;
  if (!f->keepCache || !info->sameAccess(node->info)) {
    // Other bytes, or other permissions (a chmod or chown at the origin). Without keep_cache
    // the kernel drops its pages of the file, but not its attributes: a reader going from
    // open() straight to read() (dd, os.read) would be cut at the old size, and permission
    // checks would use the old mode, for up to fuse.attr_timeout. Invalidated, the kernel
    // asks getattr again.
    inodes_.update(ino, *info);
    if (notifier_ != nullptr) notifier_->invalidateInode(ino);
  }
  f->ino = ino;
  f->file = cache::FileRef{node->key, info->etag, info->size};
  if (passthrough_) {
    const Passthrough::Grant grant = passthrough_->open(ino, f->file);
    f->io = grant.mode;
    f->backingId = grant.backingId;
    f->tracked = true;
  }
  discoverDirOf(node->key);
  return f;
}

Result<size_t> FileSystem::read(const OpenFile& f, uint64_t offset, std::span<std::byte> out) {
  if (f.isControl) {
    if (offset >= f.content.size()) return size_t{0};
    size_t n = std::min<size_t>(out.size(), f.content.size() - offset);
    std::memcpy(out.data(), f.content.data() + offset, n);
    return n;
  }
  auto n = cache_.read(f.file, offset, out);
  if (!n.isOk() && n.status().code() == Code::kStale) {
    // The file changed at the origin since it was opened. This open keeps failing (no mixed
    // versions); the next open must see the new version, so revalidate it now.
    Status st = ns_.invalidate(f.file.key);
    if (!st.isOk()) {
      spdlog::warn("revalidating '{}': {}", f.file.key, st.toString());
    } else if (immutableNamespace()) {
      // The next open takes the new version from the namespace and drops the kernel's pages
      // and attributes of the old one. Not here: the kernel holds the page this READ fills
      // locked until we reply, and invalidating the inode's pages would wait for it.
      std::lock_guard<std::mutex> g(revalidatedMu_);
      revalidated_.insert(f.file.key);
    }
  }
  return n;
}

bool FileSystem::takeRevalidated(const std::string& key) {
  std::lock_guard<std::mutex> g(revalidatedMu_);
  return revalidated_.erase(key) > 0;
}

void FileSystem::revalidateAfterRefresh(
    const std::unordered_map<std::string, std::vector<std::string>>& before) {
  size_t changed = 0;
  for (const Inode& node : inodes_.all()) {
    auto info = ns_.stat(node.key);
    if (node.ino == kRootIno) {
      // Always there and a directory; only its permissions can have changed.
      if (info.isOk() && !info->sameAccess(node.info)) {
        ++changed;
        inodes_.update(node.ino, *info);
        if (notifier_ != nullptr) notifier_->invalidateInode(node.ino);
      }
      continue;
    }
    bool same = info.isOk() && info->type == node.info.type && info->size == node.info.size &&
                info->etag == node.info.etag && info->sameAccess(node.info);
    if (same) continue;
    ++changed;
    if (info.isOk()) inodes_.update(node.ino, *info);
    if (notifier_ == nullptr) continue;
    notifier_->invalidateInode(node.ino);
    auto [dir, name] = origin::splitKey(node.key);
    if (auto parent = inodes_.inoOf(std::string(dir))) {
      notifier_->invalidateEntry(*parent, std::string(name));
    }
  }
  size_t appeared = 0;
  for (const auto& [dirKey, oldNames] : before) {  // empty without a notifier
    auto parent = inodes_.inoOf(dirKey);
    auto entries = ns_.list(dirKey);
    if (!parent || !entries.isOk()) continue;
    size_t kept = 0;
    for (const auto& e : *entries) {
      // Listings are sorted by name, so is oldNames.
      if (std::binary_search(oldNames.begin(), oldNames.end(), e.name)) {
        ++kept;
        continue;
      }
      ++appeared;
      notifier_->invalidateEntry(*parent, e.name);  // a negative entry the kernel may hold
    }
    // Names came or went: the listing the kernel may keep (OpenDir::kernelMayCache) is stale.
    if (kept != oldNames.size() || kept != entries->size()) notifier_->invalidateInode(*parent);
  }
  spdlog::info("refresh: {} known files or directories changed or went away, {} names appeared",
               changed, appeared);
}

Result<std::unique_ptr<OpenDir>> FileSystem::opendir(uint64_t ino) {
  auto d = std::make_unique<OpenDir>();
  d->ino = ino;
  if (ino == kControlDirIno) {
    origin::DirEntry stats;
    stats.name = std::string(kStatsName);
    d->entries.push_back(std::move(stats));
    origin::DirEntry refresh;
    refresh.name = std::string(kRefreshName);
    d->entries.push_back(std::move(refresh));
    origin::DirEntry plan;
    plan.name = std::string(kPlanName);
    d->entries.push_back(std::move(plan));
    return d;
  }
  auto node = inodes_.get(ino);
  if (!node) return Status(Code::kStale, "unknown inode");
  if (node->info.type != origin::EntryType::kDirectory) {
    return Status(Code::kNotDirectory, node->key);
  }
  auto entries = ns_.list(node->key);
  if (!entries.isOk()) return entries.status();
  if (ino == kRootIno) hideReservedName(*entries);
  d->key = node->key;
  d->entries = std::move(*entries);
  d->kernelMayCache = immutableNamespace() && notifier_ != nullptr && attrTimeoutSec() > 0;
  return d;
}

void FileSystem::hideReservedName(std::vector<origin::DirEntry>& rootEntries) {
  // Listed, a readdirplus would hand the kernel the origin's entry under this name, and every
  // later lookup of .epochfs/stats would find the dataset's instead of the control directory.
  auto it = std::find_if(rootEntries.begin(), rootEntries.end(),
                         [](const origin::DirEntry& e) { return e.name == kControlDirName; });
  if (it == rootEntries.end()) return;
  rootEntries.erase(it);
  if (!reservedNameLogged_.exchange(true)) {
    spdlog::info("the origin's '{}' at the root is hidden: the name is reserved for the "
                 "control directory",
                 kControlDirName);
  }
}

NodeAttr FileSystem::lookupEntry(const OpenDir& dir, size_t index) {
  const origin::DirEntry& e = dir.entries.at(index);
  if (dir.ino == kControlDirIno) return controlAttr(kStatsIno + index);
  Inode node = inodes_.lookup(origin::joinKey(dir.key, e.name), e.info);
  return toAttr(node.ino, node.info);
}

NodeAttr FileSystem::peekEntry(const OpenDir& dir, size_t index) const {
  const origin::DirEntry& e = dir.entries.at(index);
  if (dir.ino == kControlDirIno) return controlAttr(kStatsIno + index);
  // Plain readdir hands out no inode references; d_ino is informational only, so a stable
  // hash outside the range of real inode numbers will do.
  uint64_t ino = std::hash<std::string>{}(origin::joinKey(dir.key, e.name)) | (1ULL << 63);
  return toAttr(ino, e.info);
}

void FileSystem::release(OpenFile& f) {
  if (f.tracked && passthrough_) {
    passthrough_->release(f.ino, f.io);
    f.tracked = false;
  }
  planRelease(f);
}

double FileSystem::attrTimeoutSec() const {
  const double t = opts_.fuse.attrTimeoutSec;
  if (opts_.metadata.ttlSec != config::kTtlImmutable || t <= 0) return t;
  return std::max(t, kImmutableAttrTimeoutSec);
}

void FileSystem::enablePassthrough(BackingFiles& kernel) {
  passthrough_ = std::make_unique<Passthrough>(cache_, kernel);
  passthroughOff_.clear();
}

void FileSystem::disablePassthrough(std::string reason) {
  passthrough_.reset();
  passthroughOff_ = std::move(reason);
}

FsStat FileSystem::statfs() const {
  cache::CacheStats c = cache_.stats();
  FsStat s;
  s.totalBlocks = c.limitBytes / s.blockSize;
  uint64_t used = std::min(c.usedBytes, c.limitBytes);
  s.freeBlocks = (c.limitBytes - used) / s.blockSize;
  s.freeFiles = kFreeInodes;
  s.files = inodes_.size() + kFreeInodes;
  return s;
}

std::string FileSystem::statsJson() const {
  StatsContext ctx;
  ctx.mountpoint = opts_.mountpoint;
  ctx.source = opts_.origin.source;
  ctx.cacheDir = opts_.cache.dir;
  ctx.policyName = cache_.policyName();
  ctx.inodes = inodes_.size();
  ctx.integrity = origin_.integrity();
  {
    std::lock_guard<std::mutex> g(planMu_);
    ctx.plans = plans_;
  }
  if (requestCounts_ != nullptr) ctx.fuse.requests = requestCounts_->snapshot();
  ctx.fuse.passthrough = passthrough_ != nullptr;
  ctx.fuse.passthroughOff = passthroughOff_;
  if (passthrough_) ctx.fuse.pass = passthrough_->stats();
  return renderStats(ctx, cache_.stats(), originCounters_, ns_.stats());
}

}  // namespace epochfs::fs
