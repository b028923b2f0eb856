// The daemon's log file when its filesystem misbehaves: rotation that cannot create the new
// file (out of inodes), no file at all, and the modes of what it creates. Failures are
// injected through the sink's open function; nothing here depends on time.
#include "cli/RotatingLogSink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include "common/testing/TempDir.h"

namespace epochfs::cli {
namespace {

constexpr uint64_t kMax = 1024;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t sizeOf(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

class RotatingLogSinkTest : public ::testing::Test {
 protected:
  // The sink's opens, with the faults the test turns on.
  RotatingLogSink::OpenFn faultyOpen() {
    return [this](const std::string& p, int flags, mode_t mode) {
      opens_++;
      if (failAll_) {
        errno = ENOSPC;
        return -1;
      }
      // Out of inodes: an existing file opens, a new one cannot be made.
      if (noInodes_ && (flags & O_CREAT) && !std::filesystem::exists(p)) {
        errno = ENOSPC;
        return -1;
      }
      return ::open(p.c_str(), flags, mode);
    };
  }

  void make() {
    sink_ = std::make_shared<RotatingLogSink>(path_, kMax, faultyOpen());
    logger_ = std::make_shared<spdlog::logger>("test", sink_);
    logger_->set_pattern("%v");
    logger_->set_error_handler([this](const std::string&) { spdlogErrors_++; });
  }
  // `n` lines of 100 bytes (with the newline), numbered from `from`.
  void log(int n, int from = 0) {
    for (int i = from; i < from + n; ++i) {
      std::string line = "line " + std::to_string(i) + " ";
      line.resize(99, 'x');
      logger_->info("{}", line);
    }
  }

  test::TempDir dir_;
  std::string path_ = dir_.path() + "/epochfs.log";
  std::atomic<bool> noInodes_{false}, failAll_{false};
  std::atomic<int> opens_{0};
  int spdlogErrors_ = 0;
  std::shared_ptr<RotatingLogSink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(RotatingLogSinkTest, KeepsTheFileAndOneRotatedCopyWithinTheBound) {
  make();
  log(35);
  EXPECT_LE(sizeOf(path_), kMax);
  EXPECT_LE(sizeOf(path_ + ".1"), kMax);
  EXPECT_GT(sizeOf(path_ + ".1"), 0u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".2"));
  EXPECT_NE(slurp(path_).find("line 34 "), std::string::npos);
  EXPECT_EQ(sink_->health().writeFailures, 0u);
  EXPECT_EQ(sink_->health().rotationFailures, 0u);
  EXPECT_EQ(spdlogErrors_, 0);
}

// The bug: spdlog's sink left its FILE* null after such a rotation, and the next write
// crashed. Here logging goes on in the old file, started over, within the bound.
TEST_F(RotatingLogSinkTest, RotationThatCannotCreateTheNewFileStartsTheOldOneOver) {
  make();
  log(5);
  noInodes_ = true;
  log(30, 5);
  const LogHealth h = sink_->health();
  EXPECT_GE(h.rotationFailures, 1u);
  EXPECT_EQ(h.writeFailures, 0u) << "no line was lost but those the bound drops";
  EXPECT_EQ(spdlogErrors_, 0) << "the sink never throws";
  const std::string text = slurp(path_);
  EXPECT_NE(text.find("line 34 "), std::string::npos) << "the newest line is in the file";
  EXPECT_NE(text.find("log rotation of " + path_ + " failed"), std::string::npos) << text;
  EXPECT_LE(sizeOf(path_), kMax + 128) << "bounded (the note about the failure may add a line)";
  EXPECT_FALSE(std::filesystem::exists(path_ + ".1")) << "renamed back: no extra inode used";

  noInodes_ = false;  // inodes again: rotation works again
  log(30, 100);
  EXPECT_TRUE(std::filesystem::exists(path_ + ".1"));
  EXPECT_NE(slurp(path_).find("line 129 "), std::string::npos);
  EXPECT_EQ(sink_->health().writeFailures, 0u);
}

TEST_F(RotatingLogSinkTest, WithNoFileAtAllLinesAreDroppedAndCountedUntilAnOpenWorks) {
  make();
  log(9);
  failAll_ = true;
  log(20, 9);  // the rotation at ~line 10 cannot open anything
  const uint64_t dropped = sink_->health().writeFailures;
  EXPECT_GE(dropped, 1u);
  EXPECT_EQ(spdlogErrors_, 0);
  const int opensWhileBroken = opens_.load();
  log(static_cast<int>(RotatingLogSink::kReopenEvery) * 2, 100);
  EXPECT_LE(opens_.load() - opensWhileBroken, 3) << "an open is retried now and then, not per line";
  failAll_ = false;
  log(static_cast<int>(RotatingLogSink::kReopenEvery) + 1, 1000);
  const std::string text = slurp(path_);
  EXPECT_NE(text.find("line " + std::to_string(1000 + RotatingLogSink::kReopenEvery) + " "),
            std::string::npos)
      << "logging resumed once the file could be opened";
}

TEST_F(RotatingLogSinkTest, FilesArePrivateWhateverTheUmask) {
  const mode_t old = ::umask(022);
  {
    std::ofstream(path_) << "old\n";
    ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
    make();
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "an existing log is made private";
    log(15);  // rotates: a new file
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "a new log is created private";
  }
  ::umask(old);
}

}  // namespace
}  // namespace epochfs::cli
