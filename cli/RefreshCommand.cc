// `epochfs refresh`: asks a mount to re-list its origin, through .epochfs/refresh.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/Commands.h"
#include "cli/ControlClient.h"

namespace epochfs::cli {

int runRefresh(const std::string& mountpoint) {
  std::string mp = absolutePath(mountpoint);
  if (!isEpochfsMount(mp)) {
    std::cerr << "epochfs: " << mp << " is not an epochfs mount\n";
    return 1;
  }
  std::string path = mp + "/.epochfs/refresh";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    std::cerr << "epochfs: cannot open " << path << ": " << strerror(errno) << "\n";
    return 1;
  }
  // The write returns when the daemon has re-listed the origin, or fails with its error.
  static constexpr char kRequest[] = "refresh\n";
  ssize_t n = ::write(fd, kRequest, sizeof kRequest - 1);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    std::cerr << "epochfs: refresh of " << mp << " failed: " << strerror(err)
              << " (see the daemon's log)\n";
    return 1;
  }
  return 0;
}

}  // namespace epochfs::cli
