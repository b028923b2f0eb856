#include "cache/CacheDirLock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <thread>

namespace epochfs::cache {
namespace {

// The pid written in LOCK by its holder ("" before it wrote one).
std::string holderPid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

// Whether process `pid` has exited or is exiting: no such process, or its group leader a
// zombie (its other threads may still hold its files for a moment).
bool exitingOrGone(const std::string& pid) {
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return false;
  std::ifstream stat("/proc/" + pid + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  const char state = line[close + 2];
  return state == 'Z' || state == 'X';
}

}  // namespace

Result<CacheDirLock> CacheDirLock::acquire(const std::string& dir,
                                           std::chrono::milliseconds exitWait) {
  std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return errnoStatus(errno, "open " + path);
  (void)::fchmod(fd, 0600);  // one made by an older version; the dir denies access anyway
  const auto deadline = std::chrono::steady_clock::now() + exitWait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) {
      ::close(fd);
      return errnoStatus(err, "flock " + path);
    }
    std::string pid = holderPid(fd);
    if (exitingOrGone(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    ::close(fd);
    if (pid.empty()) pid = "unknown";  // the holder has not written its pid yet
    return Status(Code::kBusy,
                  "cache dir " + dir + " is in use by another epochfs process (pid " + pid + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd);
    return errnoStatus(err, "write " + path);
  }
  return CacheDirLock(fd);
}

CacheDirLock& CacheDirLock::operator=(CacheDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

CacheDirLock::~CacheDirLock() {
  // The pid stays in the file: harmless, and the next holder overwrites it.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace epochfs::cache
