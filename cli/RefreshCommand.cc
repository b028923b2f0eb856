// `epochfs refresh`: asks a mount to re-list its origin (kIocRefresh on .epochfs/refresh).
#include <iostream>

#include "cli/Commands.h"
#include "cli/ControlClient.h"
#include "cli/ControlFile.h"
#include "fs/ControlIoctl.h"

namespace epochfs::cli {

int runRefresh(const std::string& mountpoint) {
  std::string mp = absolutePath(mountpoint);
  if (!isEpochfsMount(mp)) {
    std::cerr << "epochfs: " << mp << " is not an epochfs mount\n";
    return 1;
  }
  auto file = ControlFile::open(mp, "refresh");
  if (!file.isOk()) {
    std::cerr << "epochfs: " << file.status().message() << "\n";
    return 1;
  }
  // Returns when the daemon has re-listed the origin, or fails with its error.
  Status st = file->call(fs::kIocRefresh, nullptr);
  if (!st.isOk()) {
    std::cerr << "epochfs: refresh of " << mp << " failed: " << st.message()
              << " (see the daemon's log)\n";
    return 1;
  }
  return 0;
}

}  // namespace epochfs::cli
