#include "cli/ControlFile.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "fs/ControlIoctl.h"

namespace epochfs::cli {

Result<ControlFile> ControlFile::open(const std::string& mountpoint, std::string_view name) {
  std::string path = mountpoint + "/.epochfs/" + std::string(name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoStatus(errno, "cannot open " + path);
  return ControlFile(fd, std::move(path));
}

ControlFile::~ControlFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status ControlFile::call(uint32_t cmd, void* arg) {
  if (::ioctl(fd_, cmd, arg) == 0) return Status::ok();
  const int err = errno;
  std::string reason;
  fs::ControlError e{};
  if (err != ENOTTY && ::ioctl(fd_, fs::kIocLastError, &e) == 0) {
    e.message[sizeof e.message - 1] = '\0';
    reason = e.message;
  }
  if (err == ENOTTY) {
    return Status(Code::kNotSupported, path_ + ": the daemon does not know this control "
                                               "command (an epochfs older than this client?)");
  }
  if (reason.empty()) return errnoStatus(err, path_);
  return Status(err == EINVAL ? Code::kInvalid : Code::kIo, reason);
}

}  // namespace epochfs::cli
