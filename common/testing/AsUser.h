// common/testing/AsUser.h: run a check without root's privileges, for tests of permission
// errors that root would bypass (CI runs as root).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace epochfs::test {

// Runs `check` in a forked child that, when we are root, first becomes the unprivileged user
// nobody (65534); returns whether the check returned true there. Keep `check` to plain calls:
// the child of a threaded process may only do simple work.
inline bool passesUnprivileged(const std::function<bool()>& check) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
    ::_exit(check() ? 0 : 1);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace epochfs::test
