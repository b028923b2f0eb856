#include "common/Status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace epochfs {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.toString(), "OK");
}

TEST(StatusTest, ErrnoMapsToCodes) {
  EXPECT_EQ(errnoStatus(ENOENT, "open /x").code(), Code::kNotFound);
  EXPECT_EQ(errnoStatus(EACCES, "open /x").code(), Code::kPermissionDenied);
  EXPECT_EQ(errnoStatus(ENOSPC, "write").code(), Code::kNoSpace);
  EXPECT_EQ(errnoStatus(EIO, "read").code(), Code::kIo);
  EXPECT_NE(errnoStatus(ENOENT, "open /x").toString().find("open /x"), std::string::npos);
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good(7);
  ASSERT_TRUE(good.isOk());
  EXPECT_EQ(*good, 7);
  Result<int> bad(notFound("nope"));
  EXPECT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace epochfs
