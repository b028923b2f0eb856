#include "cli/RotatingLogSink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/common.h>

namespace epochfs::cli {
namespace {

constexpr int kAppend = O_WRONLY | O_APPEND | O_CLOEXEC;

}  // namespace

RotatingLogSink::RotatingLogSink(std::string path, uint64_t maxBytes, OpenFn open)
    : path_(std::move(path)),
      rotated_(path_ + ".1"),
      maxBytes_(maxBytes),
      open_(open ? std::move(open)
                 : OpenFn([](const std::string& p, int flags, mode_t mode) {
                     return ::open(p.c_str(), flags, mode);
                   })) {
  fd_ = openAt(path_, kAppend | O_CREAT);
  if (fd_ < 0) {
    throw spdlog::spdlog_ex("cannot open log file " + path_ + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
}

RotatingLogSink::~RotatingLogSink() {
  if (fd_ >= 0) ::close(fd_);
}

LogHealth RotatingLogSink::health() const {
  return {writeFailures_.load(), rotationFailures_.load()};
}

int RotatingLogSink::openAt(const std::string& path, int flags) {
  int fd = open_(path, flags, 0600);
  // An existing file keeps its mode through open(): make it private too (best effort).
  if (fd >= 0) (void)::fchmod(fd, 0600);
  return fd;
}

void RotatingLogSink::rotate() {
  ::close(fd_);
  fd_ = -1;
  size_ = 0;
  int err = 0;
  if (::rename(path_.c_str(), rotated_.c_str()) == 0) {
    fd_ = openAt(path_, kAppend | O_CREAT | O_TRUNC);
    if (fd_ >= 0) return;
    err = errno;
    // No new file (out of inodes, say): take the old one back and start it over, which needs
    // no new inode. The last maxBytes of log are lost; the bound and the log are kept.
    if (::rename(rotated_.c_str(), path_.c_str()) != 0) err = errno;
  } else {
    err = errno;
  }
  rotationFailures_++;
  fd_ = openAt(path_, kAppend | O_TRUNC);
  if (fd_ < 0) return;  // lines are dropped until an open works (sink_it_)
  char line[256];
  int n = std::snprintf(line, sizeof line,
                        "[epochfs] log rotation of %s failed (%s): the file was started over\n",
                        path_.c_str(), std::strerror(err));
  if (n > 0) writeLine(line, std::min(static_cast<size_t>(n), sizeof line - 1));
}

void RotatingLogSink::writeLine(const char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd_, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      writeFailures_++;
      return;
    }
    done += static_cast<size_t>(n);
  }
  size_ += size;
}

void RotatingLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  if (fd_ < 0) {
    // No file: try again now and then, not on every line.
    if (++droppedSinceTry_ < kReopenEvery) {
      writeFailures_++;
      return;
    }
    droppedSinceTry_ = 0;
    fd_ = openAt(path_, kAppend | O_CREAT);
    if (fd_ < 0) {
      writeFailures_++;
      return;
    }
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  if (size_ > 0 && size_ + formatted.size() > maxBytes_) {
    rotate();
    if (fd_ < 0) {
      writeFailures_++;
      return;
    }
  }
  writeLine(formatted.data(), formatted.size());
}

}  // namespace epochfs::cli
