// `epochfs plan`: publishes a plan (one path per line, relative to the mount root) from a file
// or stdin, for shell users: the chunks of kIocPlanAppend, then kIocPlanCommit.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/Commands.h"
#include "cli/ControlClient.h"
#include "cli/ControlFile.h"
#include "fs/ControlIoctl.h"

namespace epochfs::cli {
namespace {

// Fills chunk.data from `fd` (as much as one read gives); 0 at end of input.
Result<size_t> readChunk(int fd, fs::PlanChunk& chunk) {
  for (;;) {
    ssize_t n = ::read(fd, chunk.data, sizeof chunk.data);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return errnoStatus(errno, "read");
  }
}

}  // namespace

int runPlan(const std::string& mountpoint, const std::string& file) {
  std::string mp = absolutePath(mountpoint);
  if (!isEpochfsMount(mp)) {
    std::cerr << "epochfs: " << mp << " is not an epochfs mount\n";
    return 1;
  }
  const bool fromStdin = file == "-";
  int in = fromStdin ? STDIN_FILENO : ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    std::cerr << "epochfs: cannot open " << file << ": " << strerror(errno) << "\n";
    return 1;
  }
  auto control = ControlFile::open(mp, "plan");
  Status st = control.status();
  auto chunk = std::make_unique<fs::PlanChunk>();
  fs::PlanResult result;
  while (st.isOk()) {
    auto n = readChunk(in, *chunk);
    if (!n.isOk()) {
      st = Status(n.status().code(), "reading " + (fromStdin ? std::string("stdin") : file) +
                                         ": " + n.status().message());
      break;
    }
    if (*n == 0) {
      st = control->call(fs::kIocPlanCommit, &result);
      break;
    }
    chunk->length = static_cast<uint32_t>(*n);
    st = control->call(fs::kIocPlanAppend, chunk.get());
  }
  if (!fromStdin) ::close(in);
  // On failure nothing is published: the plan file closes without a commit.
  if (!st.isOk()) {
    std::cerr << "epochfs: plan not published: " << st.message() << "\n";
    return 1;
  }
  if (result.ignored != 0) {
    std::cout << fmt::format("plan of {} paths published to {}; ignored: the policy does not "
                             "use plans\n", result.paths, mp);
  } else {
    std::cout << fmt::format("plan of {} paths published to {}: {} files, {} blocks planned",
                             result.paths, mp, result.files, result.blocks);
    if (result.unknownPaths > 0) {
      std::cout << fmt::format(", {} unknown paths skipped", result.unknownPaths);
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace epochfs::cli
