// origin/posix/PosixOrigin.h: an Origin over a directory of the local filesystem (or any
// mounted one: NFS, Lustre, another FUSE mount). The embedded default origin.
//
// Keys are checked (checkKey()) and then opened beneath the root directory (RootDir:
// openat2 with RESOLVE_BENEATH), so neither a key nor a symbolic link in the tree can name
// anything outside the root. Links are followed while they stay inside the root (a relative
// link to a sibling file, "train/latest -> v3"); a link that leaves it (an absolute target,
// even one that names a path inside the root, or a relative one climbing out) is treated as
// absent. list() leaves out entries that are neither regular files nor directories after
// following links (sockets, FIFOs, devices, dangling, looping or outward links), and stat()
// and read() answer kNotFound for them, so the three calls agree.
//
// Each entry carries the origin's permission bits (read and execute only: the mount is
// read-only) and owner, so the kernel's default_permissions check enforces them through the
// mount; for a link, those of its target.
//
// The etag is "<size>-<mtime ns>-<inode>" (hex), so replacing a file (copy + rename), or
// rewriting it in place with another size or at a later time, changes it. Not detected: an
// in-place rewrite to the same size within one filesystem timestamp tick (a few ms), which
// also leaves the mtime unchanged; datasets are not updated that way.
//
// Stateless apart from the root, held open from construction (its path is resolved once
// there, so a root given as a link serves the link's target of that moment): every call opens
// what it needs beneath it and closes it again, so it is thread-safe and never holds a file
// that was deleted or replaced at the origin. Replacing the root directory itself while
// mounted is not followed; remount.
#pragma once

#include <string>

#include "origin/Origin.h"
#include "origin/posix/RootDir.h"

namespace epochfs::origin {

class PosixOrigin final : public Origin {
 public:
  // `rootDir`: an existing directory, preferably absolute (makeOrigin() checks it and makes
  // it absolute), opened here. Trailing slashes are ignored. If it cannot be opened, every
  // call fails with that error.
  explicit PosixOrigin(std::string rootDir);

  // The root directory, without a trailing slash (except for "/").
  const std::string& root() const { return root_; }

  std::string describe() const override { return "posix:" + root_; }
  Result<ObjectInfo> stat(std::string_view key) override;
  // One readdir pass plus one fstatat per entry, relative to the open directory (and, for a
  // link, one open of it beneath the root); linear in the number of entries apart from the
  // final sort.
  Result<std::vector<DirEntry>> list(std::string_view key) override;
  // Opens the file, compares the etag of the opened file with `etag`, preads until `out` is
  // full or the end of the file, then checks the etag again so an in-place rewrite during
  // the read is reported as kStale instead of returning a mix of two versions.
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override;

 private:
  std::string pathOf(std::string_view key) const;

  std::string root_;  // for messages; lookups go through dir_
  RootDir dir_;
};

}  // namespace epochfs::origin
