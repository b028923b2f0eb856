// origin/posix/RootDir.cc: openat2(2) by syscall, as glibc 2.36 (Debian 12) has no wrapper.
#include "origin/posix/RootDir.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include <spdlog/spdlog.h>

namespace epochfs::origin {
namespace {

// RESOLVE_BENEATH rather than RESOLVE_IN_ROOT: IN_ROOT would reinterpret a link to
// /etc/passwd as <root>/etc/passwd and serve whatever file happens to be there, silently
// another file than the link's owner meant; BENEATH refuses the link (EXDEV), so a link out
// of the dataset simply does not exist in the mount.
constexpr uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

// The kernel answers EAGAIN when a rename or mount elsewhere raced with a ".." during the
// walk and it cannot prove the walk stayed beneath; a retry almost always succeeds.
constexpr int kRaceRetries = 8;

long openat2(int dirfd, const char* path, int flags, uint64_t resolve) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = resolve;
  return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

RootDir::RootDir(const std::string& path, Resolve resolve)
    : fd_(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
  if (fd_.get() < 0) {
    error_ = errno;
    return;
  }
  if (resolve == Resolve::kOpenat) {
    confined_ = false;
    return;
  }
  long probe = openat2(fd_.get(), ".", O_PATH | O_CLOEXEC, kResolve);
  if (probe >= 0) {
    ::close(static_cast<int>(probe));
    return;
  }
  // ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that does not know the call (opening
  // "." of a directory we hold cannot be refused otherwise).
  if (errno == ENOSYS || errno == EPERM) {
    confined_ = false;
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      spdlog::warn("openat2(2) is not available ({}): symbolic links in {} are followed "
                   "wherever they point, also out of the origin directory; run on Linux 5.6 "
                   "or later to confine them",
                   errno == ENOSYS ? "kernel too old" : "refused by a seccomp filter", path);
    }
  }
}

int RootDir::openBeneath(std::string_view key, int flags) const {
  if (error_ != 0) return -error_;
  // checkKey() has excluded NUL bytes, so the copy is the whole key.
  const std::string path = key.empty() ? std::string(".") : std::string(key);
  flags |= O_CLOEXEC;
  if (!confined_) {
    int fd = ::openat(fd_.get(), path.c_str(), flags);
    return fd >= 0 ? fd : -errno;
  }
  for (int attempt = 0;; ++attempt) {
    long fd = openat2(fd_.get(), path.c_str(), flags, kResolve);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EAGAIN || attempt == kRaceRetries) return -errno;
  }
}

}  // namespace epochfs::origin
