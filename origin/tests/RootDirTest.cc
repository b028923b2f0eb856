// origin/tests/RootDirTest.cc: opening beneath the root, and what the fallback for kernels
// without openat2 does and does not keep out.
#include "origin/posix/RootDir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "common/testing/TempDir.h"

namespace epochfs::origin {
namespace {

using test::TempDir;

// Reads a file through an fd that openBeneath returned; "" if it did not.
std::string contentOf(int fd) {
  if (fd < 0) return "";
  UniqueFd owned(fd);
  char buf[64];
  ssize_t n = ::read(owned.get(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

class RootDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("outside.txt", "outside");
    dir_.write("root/in.txt", "inside");
    ASSERT_EQ(::symlink("in.txt", (dir_ / "root/near").c_str()), 0);
    ASSERT_EQ(::symlink("../outside.txt", (dir_ / "root/out").c_str()), 0);
    ASSERT_EQ(::symlink((dir_ / "outside.txt").c_str(), (dir_ / "root/abs").c_str()), 0);
  }
  TempDir dir_;
};

TEST_F(RootDirTest, BeneathFollowsLinksInsideOnly) {
  RootDir root(dir_ / "root");
  ASSERT_EQ(root.error(), 0);
  ASSERT_TRUE(root.confined()) << "Linux 6.x has openat2";
  EXPECT_EQ(contentOf(root.openBeneath("in.txt", O_RDONLY)), "inside");
  EXPECT_EQ(contentOf(root.openBeneath("near", O_RDONLY)), "inside");
  EXPECT_EQ(root.openBeneath("out", O_RDONLY), -EXDEV);
  EXPECT_EQ(root.openBeneath("abs", O_RDONLY), -EXDEV);
  EXPECT_EQ(root.openBeneath("missing", O_RDONLY), -ENOENT);
  int self = root.openBeneath("", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(self, 0);
  struct stat a, b;
  ASSERT_EQ(::fstat(self, &a), 0);
  ASSERT_EQ(::stat((dir_ / "root").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "\"\" is the root itself";
  ::close(self);
}

// Without openat2, links are followed anywhere (the documented weakness the warning names);
// names still resolve relative to the root held open.
TEST_F(RootDirTest, OpenatFallbackFollowsLinksAnywhere) {
  RootDir root(dir_ / "root", RootDir::Resolve::kOpenat);
  EXPECT_FALSE(root.confined());
  EXPECT_EQ(contentOf(root.openBeneath("near", O_RDONLY)), "inside");
  EXPECT_EQ(contentOf(root.openBeneath("out", O_RDONLY)), "outside");
  EXPECT_EQ(contentOf(root.openBeneath("abs", O_RDONLY)), "outside");
}

TEST_F(RootDirTest, AMissingRootFailsEveryOpenWithItsError) {
  RootDir root(dir_ / "absent");
  EXPECT_EQ(root.error(), ENOENT);
  EXPECT_EQ(root.openBeneath("", O_PATH), -ENOENT);
  EXPECT_EQ(root.openBeneath("in.txt", O_RDONLY), -ENOENT);
}

}  // namespace
}  // namespace epochfs::origin
