// origin/posix/RootDir.h: the origin directory, held open, and every key opened beneath it.
//
// PosixOrigin resolves each key through this class, never through a path string, so that
// nothing a name or a symbolic link in the dataset says can reach outside the root:
// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS on a descriptor of the root. A
// link is followed while it stays inside the root (relative links to siblings, "latest ->
// v3"); one that leaves it (an absolute target, a "../.." climbing out, a /proc magic link)
// fails the open with EXDEV or ELOOP. Mounts inside the root are crossed (no RESOLVE_NO_XDEV):
// a dataset directory may well hold an NFS or bind mount of its parts.
//
// The root path itself is resolved once, at construction: a root given as a link
// (/data/ds -> /mnt/nfs/ds) serves its target as it was then, and repointing the link takes
// effect at the next mount.
//
// Kernels before 5.6 (or a seccomp filter) have no openat2: then keys are opened with plain
// openat(2) relative to the root, which still keeps "..", absolute and NUL names out (keys
// are checked by checkKey()) but follows links wherever they point; a warning says so once.
//
// Thread-safe: the descriptor is only read after construction.
#pragma once

#include <string>
#include <string_view>

namespace epochfs::origin {

// Closes the descriptor on every return path.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

class RootDir {
 public:
  enum class Resolve {
    kBeneath,  // openat2 with RESOLVE_BENEATH when the kernel has it, else kOpenat
    kOpenat,   // plain openat: what a kernel without openat2 gets (tests ask for it directly)
  };

  // Opens `path` (links in it followed). If that fails, every openBeneath() fails with the
  // same errno (error()); makeOrigin() checks the directory before, so a mount does not
  // start that way.
  explicit RootDir(const std::string& path, Resolve resolve = Resolve::kBeneath);

  // Opens `key` (a checked origin key; "" is the root itself) beneath the root with `flags`
  // (O_CLOEXEC is added). Returns the descriptor, or -errno: ENOENT, ENOTDIR, EACCES...,
  // EXDEV or ELOOP for a link that leads out of the root.
  int openBeneath(std::string_view key, int flags) const;

  // The errno of opening the root, 0 if it is open.
  int error() const { return error_; }
  // False when the kernel has no openat2 and links are followed anywhere.
  bool confined() const { return confined_; }

 private:
  UniqueFd fd_;
  int error_ = 0;
  bool confined_ = true;
};

}  // namespace epochfs::origin
