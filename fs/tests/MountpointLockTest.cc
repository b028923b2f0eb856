#include "fs/MountpointLock.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/testing/TempDir.h"

namespace epochfs::fs {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MountpointLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(tmp_ / "mnt");
    std::filesystem::create_directories(tmp_ / "other");
  }
  std::vector<std::string> dirs() const { return {tmp_ / "locks"}; }
  test::TempDir tmp_;
};

TEST_F(MountpointLockTest, SecondLockOfAMountpointFailsNamingTheHolder) {
  auto first = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(first.isOk()) << first.status().toString();
  EXPECT_EQ(slurp(first->path()), std::to_string(::getpid()) + "\n" + (tmp_ / "mnt") + "\n");

  // flock() conflicts between two open files even in one process.
  auto second = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_FALSE(second.isOk());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_EQ(second.status().message(),
            "mountpoint " + (tmp_ / "mnt") + " is already mounted or being mounted by epochfs (pid " +
                std::to_string(::getpid()) + "; lock " + first->path() + ")");
}

TEST_F(MountpointLockTest, SpellingsOfOneDirectoryShareTheLock) {
  std::filesystem::create_directory_symlink(tmp_ / "mnt", tmp_ / "link");
  auto first = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(first.isOk()) << first.status().toString();
  for (const std::string& alias : {tmp_ / "link", tmp_ / "mnt/", tmp_ / "other/../mnt"}) {
    auto again = MountpointLock::acquire(alias, dirs());
    EXPECT_EQ(again.status().code(), Code::kBusy) << alias;
  }
  EXPECT_TRUE(MountpointLock::acquire(tmp_ / "other", dirs()).isOk());
}

TEST_F(MountpointLockTest, ReleasedWhenTheHolderGoesAway) {
  {
    auto first = MountpointLock::acquire(tmp_ / "mnt", dirs());
    ASSERT_TRUE(first.isOk());
  }
  auto again = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  // Moving keeps it held.
  MountpointLock moved = std::move(*again);
  EXPECT_EQ(MountpointLock::acquire(tmp_ / "mnt", dirs()).status().code(), Code::kBusy);
}

TEST_F(MountpointLockTest, ReleaseRemovesTheFileAndTheNextMountTakesANewOne) {
  auto first = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(first.isOk());
  const std::string path = first->path();
  first->release();
  EXPECT_FALSE(std::filesystem::exists(path));
  auto again = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_EQ(again->path(), path);
  EXPECT_EQ(MountpointLock::acquire(tmp_ / "mnt", dirs()).status().code(), Code::kBusy);
}

// Why only the last holder may release(): a lock on an unlinked file no longer excludes anyone.
TEST_F(MountpointLockTest, AnUnlinkedLockFileNoLongerBlocks) {
  auto first = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(first.isOk());
  // A second holder of the same file (the command and its daemon share one open file): its
  // release unlinks the file while the first still holds the lock on it.
  const std::string path = first->path();
  ASSERT_EQ(::unlink(path.c_str()), 0);
  auto fresh = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(fresh.isOk()) << "a new file at the path: " << fresh.status().toString();
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST_F(MountpointLockTest, SetHolderRecordsTheDaemon) {
  auto lock = MountpointLock::acquire(tmp_ / "mnt", dirs());
  ASSERT_TRUE(lock.isOk());
  ASSERT_TRUE(lock->setHolder(424242).isOk());
  auto second = MountpointLock::acquire(tmp_ / "mnt", dirs());
  EXPECT_TRUE(contains(second.status().message(), "(pid 424242;")) << second.status().message();
}

TEST_F(MountpointLockTest, FallsBackToTheNextUsableDirectory) {
  // A directory writable by others is not trusted; a missing parent cannot be created.
  const std::string open = tmp_ / "world-writable";
  std::filesystem::create_directories(open);
  ::chmod(open.c_str(), 0777);
  const std::vector<std::string> candidates{tmp_ / "missing/locks", open, tmp_ / "locks"};
  auto lock = MountpointLock::acquire(tmp_ / "mnt", candidates);
  ASSERT_TRUE(lock.isOk()) << lock.status().toString();
  EXPECT_EQ(std::filesystem::path(lock->path()).parent_path().string(), tmp_ / "locks");
  // The same choice in the next mount, so it sees the lock.
  EXPECT_EQ(MountpointLock::acquire(tmp_ / "mnt", candidates).status().code(), Code::kBusy);

  // A directory we may not write to (root's /run/epochfs for another user) is skipped too.
  // Root writes anywhere, so this part runs as nobody, in a child.
  if (::geteuid() == 0) {
    const std::string rootOnly = tmp_ / "root-only";
    const std::string nobodys = tmp_ / "nobody-locks";
    std::filesystem::create_directories(rootOnly);
    std::filesystem::create_directories(nobodys);
    ASSERT_EQ(::chown(nobodys.c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chmod(tmp_.path().c_str(), 0755), 0);  // mkdtemp made it 0700
    const std::string mnt = tmp_ / "mnt";
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(2);
      auto lock = MountpointLock::acquire(mnt, {rootOnly, nobodys});
      if (!lock.isOk()) _exit(3);
      _exit(lock->path().starts_with(nobodys + "/") ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "2: setuid failed, 3: no lock, 4: wrong directory";
  }

  auto none = MountpointLock::acquire(tmp_ / "mnt", {tmp_ / "missing/locks", open});
  ASSERT_FALSE(none.isOk());
  EXPECT_TRUE(contains(none.status().message(), "tried " + (tmp_ / "missing/locks") + ", " + open))
      << none.status().message();
}

}  // namespace
}  // namespace epochfs::fs
