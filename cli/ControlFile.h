// cli/ControlFile.h: one control file of a running mount (MOUNTPOINT/.epochfs/NAME), opened
// read-only, and the ioctls of fs/ControlIoctl.h on it: how the CLI asks the daemon to do
// something on a read-only mount.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/Status.h"

namespace epochfs::cli {

class ControlFile {
 public:
  // Opens MOUNTPOINT/.epochfs/NAME O_RDONLY. Errors name the file.
  static Result<ControlFile> open(const std::string& mountpoint, std::string_view name);
  ControlFile(ControlFile&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}
  ControlFile& operator=(ControlFile&&) = delete;
  ControlFile(const ControlFile&) = delete;
  ~ControlFile();

  // ioctl(fd, cmd, arg). On failure the message is the daemon's reason (kIocLastError) when it
  // gave one, else strerror; the code follows the errno (EINVAL: kInvalid).
  Status call(uint32_t cmd, void* arg);

  const std::string& path() const { return path_; }

 private:
  ControlFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace epochfs::cli
