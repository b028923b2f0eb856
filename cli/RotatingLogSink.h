// cli/RotatingLogSink.h: the daemon's log file, bounded, and never a reason to crash.
//
// spdlog's rotating_file_sink (1.10) closes its FILE* before rotating; if the new file cannot
// be created (a filesystem out of inodes, a directory made read-only) the open throws and
// leaves the FILE* null, and the next write hands fwrite() a null stream: the daemon served on
// with no log and crashed in libc at unmount. This sink does the same job (the file, then one
// rotated copy `<file>.1`, each at most `maxBytes`) but never throws and never writes through
// a closed file:
//   - rotation renames the file to `<file>.1` and creates a new one; if that fails it renames
//     `<file>.1` back and truncates it (which needs no new inode), so logging goes on within
//     the bound and the first line of the new file says what happened;
//   - if no file can be opened at all, lines are dropped (counted) and the open is retried
//     every kReopenEvery dropped lines;
//   - write errors (a full disk) are counted and the line is dropped.
// Files are created 0600 (the log names origin keys and paths) and an existing one is made so.
//
// Thread-safe (base_sink's mutex); each line is one write(2), so nothing is buffered in the
// process and a kill -9 loses nothing that was logged.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace epochfs::cli {

struct LogHealth {
  uint64_t writeFailures = 0;     // lines not written: a write error, or no file open
  uint64_t rotationFailures = 0;  // rotations whose new file could not be created
};

class RotatingLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // How files are opened: ::open, or a test's double.
  using OpenFn = std::function<int(const std::string& path, int flags, mode_t mode)>;

  // Opens `path` (appending, creating it 0600). Throws spdlog::spdlog_ex if it cannot be
  // opened now (setupLogging reports it: a bad --log-file should fail the mount); never after.
  RotatingLogSink(std::string path, uint64_t maxBytes, OpenFn open = {});
  ~RotatingLogSink() override;

  LogHealth health() const;

  // Lines dropped without a file before the open is tried again.
  static constexpr uint64_t kReopenEvery = 64;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}  // every line is written at once

 private:
  // Called with the base_sink mutex held.
  int openAt(const std::string& path, int flags);
  void rotate();
  void writeLine(const char* data, size_t size);

  const std::string path_;
  const std::string rotated_;  // path_ + ".1"
  const uint64_t maxBytes_;
  OpenFn open_;
  int fd_ = -1;
  uint64_t size_ = 0;          // bytes in the current file
  uint64_t droppedSinceTry_ = 0;
  std::atomic<uint64_t> writeFailures_{0};
  std::atomic<uint64_t> rotationFailures_{0};
};

}  // namespace epochfs::cli
