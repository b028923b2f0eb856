// origin/posix/PosixOrigin.h: an Origin over a directory of the local filesystem (or any
// mounted one: NFS, Lustre, another FUSE mount). The embedded default origin.
//
// Keys are resolved below the root by path joins after checkKey(), so a key can never name
// anything outside the root. Symbolic links inside the tree are followed (stat, not lstat): a
// dataset assembled from links works, and a link pointing outside the root is the dataset
// owner's choice. list() leaves out entries that are neither regular files nor directories
// after following links (sockets, FIFOs, devices, dangling or looping links), and stat() and
// read() answer kNotFound for them, so the three calls agree.
//
// The etag is "<size>-<mtime ns>-<inode>" (hex), so replacing a file (copy + rename), or
// rewriting it in place with another size or at a later time, changes it. Not detected: an
// in-place rewrite to the same size within one filesystem timestamp tick (a few ms), which
// also leaves the mtime unchanged; datasets are not updated that way.
//
// Stateless apart from the root path: every call opens what it needs and closes it again, so
// it is thread-safe and never holds a file that was deleted or replaced at the origin.
#pragma once

#include <string>

#include "origin/Origin.h"

namespace epochfs::origin {

class PosixOrigin final : public Origin {
 public:
  // `rootDir`: an existing directory, preferably absolute (makeOrigin() checks it and makes
  // it absolute). Trailing slashes are ignored.
  explicit PosixOrigin(std::string rootDir);

  // The root directory, without a trailing slash (except for "/").
  const std::string& root() const { return root_; }

  std::string describe() const override { return "posix:" + root_; }
  Result<ObjectInfo> stat(std::string_view key) override;
  // One readdir pass plus one fstatat per entry, relative to the open directory; linear in
  // the number of entries apart from the final sort.
  Result<std::vector<DirEntry>> list(std::string_view key) override;
  // Opens the file, compares the etag of the opened file with `etag`, preads until `out` is
  // full or the end of the file, then checks the etag again so an in-place rewrite during
  // the read is reported as kStale instead of returning a mix of two versions.
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override;

 private:
  std::string pathOf(std::string_view key) const;

  std::string root_;
};

}  // namespace epochfs::origin
