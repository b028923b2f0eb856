#include "fs/InodeTable.h"

#include <gtest/gtest.h>

namespace epochfs::fs {
namespace {

origin::ObjectInfo file(uint64_t size) {
  origin::ObjectInfo info;
  info.size = size;
  info.etag = "e" + std::to_string(size);
  return info;
}

origin::ObjectInfo dir() {
  origin::ObjectInfo info;
  info.type = origin::EntryType::kDirectory;
  return info;
}

TEST(InodeTableTest, SameKeySameInode) {
  InodeTable t(dir());
  Inode a = t.lookup("a/b", file(1));
  Inode b = t.lookup("a/b", file(2));
  EXPECT_EQ(a.ino, b.ino);
  EXPECT_GE(a.ino, kFirstDynamicIno);
  EXPECT_EQ(t.get(a.ino)->info.size, 2u);  // the newer attributes win
  EXPECT_NE(t.lookup("a/c", file(1)).ino, a.ino);
}

TEST(InodeTableTest, ForgetDropsAtZeroAndNumbersAreNotReused) {
  InodeTable t(dir());
  uint64_t ino = t.lookup("x", file(1)).ino;
  t.lookup("x", file(1));
  t.forget(ino, 1);
  EXPECT_TRUE(t.get(ino).has_value());
  t.forget(ino, 1);
  EXPECT_FALSE(t.get(ino).has_value());
  EXPECT_NE(t.lookup("x", file(1)).ino, ino);
}

TEST(InodeTableTest, RootIsNeverForgotten) {
  InodeTable t(dir());
  t.forget(kRootIno, 100);
  ASSERT_TRUE(t.get(kRootIno).has_value());
  EXPECT_EQ(t.get(kRootIno)->key, "");
}

}  // namespace
}  // namespace epochfs::fs
