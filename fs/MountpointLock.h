// fs/MountpointLock.h: one epochfs mount per mountpoint, decided atomically.
//
// Checking "is it already a mount point?" and then mounting leaves a window: two `epochfs
// mount` commands started together both pass the check and stack two daemons on one
// directory. So the mount command first takes flock(LOCK_EX | LOCK_NB) on a lock file named
// after the mountpoint (symlinks resolved, so two spellings of one directory share a lock),
// before any check, and the daemon it forks inherits the lock and holds it for its lifetime.
// The kernel drops the lock when the daemon dies, so a crash never leaves a stale lock (only
// its file, reused by the next mount); a clean exit removes the file (release()).
//
// The lock files live in the first usable directory of /run/epochfs, $XDG_RUNTIME_DIR/epochfs
// and /tmp/epochfs-<uid>: root always uses /run/epochfs, so root's mounts exclude each other
// whatever their environment.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/Status.h"

namespace epochfs::fs {

class MountpointLock {
 public:
  // The directories tried for lock files, in order (see above).
  static std::vector<std::string> defaultDirs();

  // Takes the lock of `mountpoint` in the first of `dirs` where a lock file can be created
  // (a missing last component is created), and writes this process's pid into it.
  // kBusy "mountpoint M is already mounted or being mounted by epochfs (pid N)" if another
  // open file holds it, in this process or another; kIo naming every directory tried if none
  // is usable.
  static Result<MountpointLock> acquire(const std::string& mountpoint,
                                        const std::vector<std::string>& dirs = defaultDirs());

  // Records `pid` as the holder, for the message of the next mount: the daemon calls it after
  // the fork, since it, not the command, holds the lock from then on.
  Status setHolder(pid_t pid);
  // The lock file.
  const std::string& path() const { return path_; }
  // Removes the lock file and releases the lock: for the holder of record (the daemon, or a
  // foreground mount) once it has unmounted. The mount command, whose daemon holds the lock
  // through the same open file, must only let its copy go out of scope.
  void release();

  MountpointLock(MountpointLock&& other) noexcept;
  MountpointLock& operator=(MountpointLock&& other) noexcept;
  MountpointLock(const MountpointLock&) = delete;
  MountpointLock& operator=(const MountpointLock&) = delete;
  // Closes this process's descriptor, leaving the file: the lock is released once no process
  // (a forked daemon shares it) has it open.
  ~MountpointLock();

 private:
  MountpointLock(int fd, std::string path, std::string mountpoint)
      : fd_(fd), path_(std::move(path)), mountpoint_(std::move(mountpoint)) {}
  int fd_ = -1;
  std::string path_;
  std::string mountpoint_;  // resolved
};

}  // namespace epochfs::fs
