// fs/MountpointLock.cc: why each step is the way it is.
#include "fs/MountpointLock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/Paths.h"

namespace epochfs::fs {
namespace {

// FNV-1a: stable across builds and runs (std::hash is not promised to be), so every epochfs
// binary agrees on the file of a mountpoint. A path can be longer than a file name may be,
// hence a hash; the path itself is written inside the file.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// A directory we may keep lock files in: created if missing (its parent must exist), a real
// directory (not a symlink), owned by us or root and writable by no one else, so nobody can
// plant or remove our lock files (/tmp/epochfs-<uid> could have been made by another user).
bool usableDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (st.st_uid != ::geteuid() && st.st_uid != 0) return false;
  return (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

std::string holderOf(int fd) {
  char buf[64] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string pid(buf, static_cast<size_t>(n));
  pid = pid.substr(0, pid.find('\n'));
  return pid;
}

}  // namespace

std::vector<std::string> MountpointLock::defaultDirs() {
  std::vector<std::string> dirs{"/run/epochfs"};
  if (::geteuid() != 0) {
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
      dirs.push_back(std::string(xdg) + "/epochfs");
    }
    dirs.push_back("/tmp/epochfs-" + std::to_string(::geteuid()));
  }
  return dirs;
}

Result<MountpointLock> MountpointLock::acquire(const std::string& mountpoint,
                                               const std::vector<std::string>& dirs) {
  const std::string real = resolvedPath(mountpoint);
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.lock",
                static_cast<unsigned long long>(fnv1a(real)));
  std::string tried;
  for (const std::string& dir : dirs) {
    const std::string path = dir + "/" + name;
    if (!usableDir(dir)) {
      tried += (tried.empty() ? "" : ", ") + dir;
      continue;
    }
    // A holder's release() unlinks the file before closing it, so a file opened just before
    // that can be locked once it is no longer the one at `path`: then try the new one.
    bool unwritable = false;
    for (int attempt = 0;; ++attempt) {
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
        unwritable = true;  // e.g. /run/epochfs for a user other than root: the next dir
        break;
      }
      if (fd < 0) return errnoStatus(errno, "open " + path);
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err != EWOULDBLOCK) {
          ::close(fd);
          return errnoStatus(err, "flock " + path);
        }
        const std::string pid = holderOf(fd);
        ::close(fd);
        return Status(Code::kBusy, "mountpoint " + real +
                                       " is already mounted or being mounted by epochfs (pid " +
                                       (pid.empty() ? "unknown" : pid) + "; lock " + path + ")");
      }
      struct stat held {};
      struct stat named {};
      const bool current = ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
                           held.st_ino == named.st_ino && held.st_dev == named.st_dev;
      if (!current) {
        ::close(fd);
        if (attempt < 100) continue;
        return Status(Code::kBusy, "mountpoint " + real + ": its lock file " + path +
                                       " keeps being replaced");
      }
      MountpointLock lock(fd, path, real);
      EPOCHFS_RETURN_IF_ERROR(lock.setHolder(::getpid()));
      return lock;
    }
    if (unwritable) tried += (tried.empty() ? "" : ", ") + dir;
  }
  return Status(Code::kIo, "no directory for the lock file of mountpoint " + real +
                               " is usable (tried " + tried + ")");
}

Status MountpointLock::setHolder(pid_t pid) {
  const std::string text = std::to_string(pid) + "\n" + mountpoint_ + "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return errnoStatus(errno, "write " + path_);
  }
  return Status::ok();
}

void MountpointLock::release() {
  if (fd_ < 0) return;
  // Unlinked while still locked: a mount that opened this file meanwhile sees, once it gets
  // the lock, that the file is no longer the one at path_, and takes the new one.
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

MountpointLock::MountpointLock(MountpointLock&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), mountpoint_(std::move(other.mountpoint_)) {
  other.fd_ = -1;
}

MountpointLock& MountpointLock::operator=(MountpointLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    mountpoint_ = std::move(other.mountpoint_);
    other.fd_ = -1;
  }
  return *this;
}

MountpointLock::~MountpointLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace epochfs::fs
