// One process per cache dir, and a restart that waits for a holder on its way out.
#include "cache/CacheDirLock.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/testing/TempDir.h"

namespace epochfs::cache {
namespace {

using std::chrono::milliseconds;

// A pid no process has now.
std::string deadPid() {
  for (int pid = 4'000'000; pid > 1000; --pid) {
    if (!std::filesystem::exists("/proc/" + std::to_string(pid))) return std::to_string(pid);
  }
  return "4194304";
}

void writeHolder(const std::string& dir, const std::string& pid) {
  std::ofstream(dir + "/LOCK", std::ios::trunc) << pid << "\n";
}

TEST(CacheDirLockTest, ARunningHolderMakesTheDirBusyNamingItsPid) {
  test::TempDir dir;
  auto first = CacheDirLock::acquire(dir.path());
  ASSERT_TRUE(first.isOk()) << first.status().toString();
  auto second = CacheDirLock::acquire(dir.path());
  ASSERT_FALSE(second.isOk());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())),
            std::string::npos)
      << second.status().message();
  { auto gone = std::move(*first); }
  EXPECT_TRUE(CacheDirLock::acquire(dir.path()).isOk()) << "released with its holder";
}

// The holder named in LOCK is gone, but its lock is not released yet (a killed daemon whose
// last threads are still exiting): the next acquire waits for the release.
TEST(CacheDirLockTest, AHolderThatIsGoneIsWaitedFor) {
  test::TempDir dir;
  std::optional<CacheDirLock> held;
  {
    auto first = CacheDirLock::acquire(dir.path());
    ASSERT_TRUE(first.isOk());
    held.emplace(std::move(*first));
  }
  writeHolder(dir.path(), deadPid());
  auto waiter = std::async(std::launch::async,
                           [&] { return CacheDirLock::acquire(dir.path(), milliseconds(20'000)); });
  EXPECT_EQ(waiter.wait_for(milliseconds(300)), std::future_status::timeout)
      << "gave up instead of waiting";
  held.reset();  // the last thread exits
  auto got = waiter.get();
  EXPECT_TRUE(got.isOk()) << got.status().toString();
}

TEST(CacheDirLockTest, AHolderThatIsGoneButKeepsTheLockIsBusyAfterTheWait) {
  test::TempDir dir;
  auto first = CacheDirLock::acquire(dir.path());
  ASSERT_TRUE(first.isOk());
  const std::string pid = deadPid();
  writeHolder(dir.path(), pid);
  auto second = CacheDirLock::acquire(dir.path(), milliseconds(200));
  ASSERT_FALSE(second.isOk());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("pid " + pid), std::string::npos)
      << second.status().message();
}

}  // namespace
}  // namespace epochfs::cache
