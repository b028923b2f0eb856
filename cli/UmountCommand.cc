// `epochfs umount`: unmount, then wait until the daemon has closed its cache and exited, so the
// cache dir can be mounted again as soon as the command returns.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/Commands.h"
#include "cli/ControlClient.h"

namespace epochfs::cli {
namespace {

int fail(const std::string& message) {
  std::cerr << "epochfs: " << message << "\n";
  return 1;
}

// Unmounts as root with umount2, otherwise through the setuid fusermount3.
int unmount(const std::string& mp, bool lazy) {
  if (::geteuid() == 0) {
    if (::umount2(mp.c_str(), lazy ? MNT_DETACH : 0) == 0) return 0;
    return errno;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", mp.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EBUSY;
}

// Whether the thread whose /proc stat file is `path` has not exited (neither zombie nor dead).
bool threadRuns(const std::string& path) {
  std::ifstream stat(path);
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return true;
  return line[close + 2] != 'Z' && line[close + 2] != 'X';
}

// True while any thread of `pid` runs. A zombie has exited: the daemon was reparented when the
// mount command returned, and its new parent (often PID 1 in containers) may reap it late. But
// a zombie leader may still have threads on their way out, and the daemon's files (the cache
// dir's lock among them) are released only when the last one is gone.
bool running(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  // Incremented by hand: the threads may vanish under the iteration, which must not throw.
  for (std::filesystem::directory_iterator it(task, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (threadRuns(it->path().string() + "/stat")) return true;
  }
  return false;
}

}  // namespace

int runUmount(const std::string& mountpoint, bool lazy, int waitSec) {
  std::string mp = absolutePath(mountpoint);
  if (!isEpochfsMount(mp)) return fail(mp + " is not an epochfs mount");
  // The daemon's pid, to wait for it; a dead mount has none to give.
  pid_t pid = 0;
  if (auto stats = readStats(mp); stats.isOk() && stats->contains("pid")) {
    pid = (*stats)["pid"].get<pid_t>();
  }
  int err = unmount(mp, lazy);
  if (err == EBUSY) {
    return fail(mp + " is busy (files or directories in it are open); close them, or use "
                "'epochfs umount --lazy'");
  }
  if (err != 0) return fail("cannot unmount " + mp + ": " + strerror(err));
  if (pid <= 0) return 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(waitSec);
  while (running(pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return fail("unmounted " + mp + ", but its daemon (pid " + std::to_string(pid) +
                  ") is still running after " + std::to_string(waitSec) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace epochfs::cli
