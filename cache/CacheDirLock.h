// cache/CacheDirLock.h: one epochfs process per cache dir.
//
// Two daemons sharing a cache dir would evict each other's blocks and corrupt the index, so
// BlockCache::open() takes flock(LOCK_EX | LOCK_NB) on <dir>/LOCK and writes its pid there for
// the error message of the next one. The kernel drops the lock when the process dies, so a
// crashed daemon never leaves a stale lock; but only once its last thread is gone, which
// comes after its pid reads as exited (the group leader a zombie): a restart right after a
// crash (systemd's Restart=, a supervisor's) waits for a holder that is exiting or gone,
// up to `exitWait`, instead of failing.
#pragma once

#include <chrono>
#include <string>

#include "common/Status.h"

namespace epochfs::cache {

class CacheDirLock {
 public:
  // kBusy "cache dir <dir> is in use by another epochfs process (pid N)" if another open file
  // (in this process or another) holds the lock, at once if the pid in LOCK is running, after
  // `exitWait` if it is exiting or gone; kIo/kPermissionDenied naming the path.
  static Result<CacheDirLock> acquire(const std::string& dir,
                                      std::chrono::milliseconds exitWait = kExitWait);
  static constexpr std::chrono::milliseconds kExitWait{10'000};

  CacheDirLock(CacheDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  CacheDirLock& operator=(CacheDirLock&& other) noexcept;
  CacheDirLock(const CacheDirLock&) = delete;
  CacheDirLock& operator=(const CacheDirLock&) = delete;
  ~CacheDirLock();

 private:
  explicit CacheDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace epochfs::cache
