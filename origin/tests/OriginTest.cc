// origin/tests/OriginTest.cc: key helpers, InstrumentedOrigin, makeOrigin.
#include "origin/Origin.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "config/Options.h"
#include "origin/posix/PosixOrigin.h"
#include "origin/testing/MemoryOrigin.h"
#include "common/testing/TempDir.h"

namespace epochfs::origin {

using test::TempDir;

namespace {

TEST(JoinKeyTest, Joins) {
  EXPECT_EQ(joinKey("", "a"), "a");
  EXPECT_EQ(joinKey("a", "b"), "a/b");
  EXPECT_EQ(joinKey("a/b", "c d.jpg"), "a/b/c d.jpg");
}

TEST(SplitKeyTest, SplitKey) {
  EXPECT_EQ(splitKey("a/b/c"), std::make_pair(std::string_view("a/b"), std::string_view("c")));
  EXPECT_EQ(splitKey("c"), std::make_pair(std::string_view(), std::string_view("c")));
}

TEST(CheckKeyTest, AcceptsWellFormedKeys) {
  for (std::string key : {"", "a", "a/b", "a b/c%20d+e=f", "...", "a/..b", ".hidden/x", "\xc3\xbc"}) {
    EXPECT_TRUE(checkKey(key).isOk()) << key;
  }
}

TEST(CheckKeyTest, RejectsKeysThatCouldEscapeOrAreAmbiguous) {
  for (std::string key : {"/", "/a", "a/", "a//b", ".", "..", "a/.", "a/..", "../a", "a/../b"}) {
    Status s = checkKey(key);
    EXPECT_EQ(s.code(), Code::kInvalid) << key;
    EXPECT_NE(s.message().find(key), std::string::npos) << s.message();
  }
  EXPECT_EQ(checkKey(std::string("a\0b", 3)).code(), Code::kInvalid);
}

TEST(InstrumentedOriginTest, CountsCallsBytesAndErrors) {
  auto memory = std::make_unique<MemoryOrigin>();
  memory->put("d/f", "0123456789");
  InstrumentedOrigin o(std::move(memory));
  EXPECT_EQ(o.describe(), "memory:");
  const OriginCounters& c = o.counters();

  ASSERT_TRUE(o.stat("d/f").isOk());
  EXPECT_EQ(o.stat("nope").status().code(), Code::kNotFound);  // a normal miss
  ASSERT_TRUE(o.list("d").isOk());
  EXPECT_FALSE(o.list("nope").isOk());  // an error: fs/ lists only what it saw
  std::vector<std::byte> buf(4);
  ASSERT_TRUE(o.read("d/f", "v1", 0, buf).isOk());
  ASSERT_TRUE(o.read("d/f", "v1", 8, buf).isOk());  // 2 bytes
  EXPECT_EQ(o.read("d/f", "v0", 0, buf).status().code(), Code::kStale);
  EXPECT_EQ(o.stat("../x").status().code(), Code::kInvalid);  // not a miss: counted

  EXPECT_EQ(c.statRequests.load(), 3u);
  EXPECT_EQ(c.listRequests.load(), 2u);
  EXPECT_EQ(c.readRequests.load(), 3u);
  EXPECT_EQ(c.requests.load(), 8u);
  EXPECT_EQ(c.bytes.load(), 6u);
  EXPECT_EQ(c.errors.load(), 3u);
}

TEST(MakeOriginTest, LocalDirectoryGivesAPosixOrigin) {
  TempDir dir;
  dir.write("x/y.bin", "abc");
  Result<std::unique_ptr<Origin>> o = makeOrigin(config::OriginOptions{dir.path() + "/"});
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  ASSERT_NE(dynamic_cast<PosixOrigin*>(o->get()), nullptr);
  EXPECT_EQ((*o)->describe(), "posix:" + dir.path());
  Result<ObjectInfo> info = (*o)->stat("x/y.bin");
  ASSERT_TRUE(info.isOk()) << info.status().toString();
  EXPECT_EQ(info->size, 3u);
}

TEST(MakeOriginTest, RelativePathIsMadeAbsolute) {
  TempDir dir;
  dir.write("sub/f", "abc");
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  Result<std::unique_ptr<Origin>> o = makeOrigin(config::OriginOptions{"./sub/../sub"});
  ASSERT_EQ(::chdir("/"), 0);  // what a daemon does
  Result<ObjectInfo> info = o.isOk() ? (*o)->stat("f") : Result<ObjectInfo>(o.status());
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ((*o)->describe(), "posix:" + dir.path() + "/sub");
  ASSERT_TRUE(info.isOk()) << info.status().toString();
}

// makeOrigin() hands s3:// to S3Origin (tested in S3FaultTest.cc and S3RgwTest.cc); these
// fail before any request is made.
TEST(MakeOriginTest, S3SourcesGoToS3Origin) {
  Result<std::unique_ptr<Origin>> noBucket = makeOrigin(config::OriginOptions{"s3://"});
  ASSERT_FALSE(noBucket.isOk());
  EXPECT_EQ(noBucket.status().code(), Code::kInvalid);
  EXPECT_NE(noBucket.status().message().find("names no bucket"), std::string::npos);

  config::OriginOptions opts;
  opts.source = "s3://bucket/prefix";
  opts.s3.endpoint = "http://127.0.0.1:9";
  opts.s3.credentials.file = "/nonexistent/epochfs-test-credentials";
  Result<std::unique_ptr<Origin>> o = makeOrigin(opts);
  ASSERT_FALSE(o.isOk());
  EXPECT_EQ(o.status().code(), Code::kNotFound);
  EXPECT_NE(o.status().message().find("/nonexistent/epochfs-test-credentials"), std::string::npos)
      << o.status().message();
}

TEST(MakeOriginTest, OtherSchemesAreInvalid) {
  Result<std::unique_ptr<Origin>> o = makeOrigin(config::OriginOptions{"gs://bucket"});
  ASSERT_FALSE(o.isOk());
  EXPECT_EQ(o.status().code(), Code::kInvalid);
  EXPECT_NE(o.status().message().find("gs://bucket"), std::string::npos);
}

TEST(MakeOriginTest, EmptySourceIsInvalid) {
  Result<std::unique_ptr<Origin>> o = makeOrigin(config::OriginOptions{""});
  ASSERT_FALSE(o.isOk());
  EXPECT_EQ(o.status().code(), Code::kInvalid);
}

TEST(MakeOriginTest, MissingPathIsNotFoundAndNamed) {
  TempDir dir;
  for (std::string source : {dir / "missing", dir / "missing/deeper"}) {
    Result<std::unique_ptr<Origin>> o = makeOrigin(config::OriginOptions{source});
    ASSERT_FALSE(o.isOk());
    EXPECT_EQ(o.status().code(), Code::kNotFound);
    EXPECT_NE(o.status().message().find(source), std::string::npos) << o.status().message();
  }
}

TEST(MakeOriginTest, FileIsNotADirectory) {
  TempDir dir;
  dir.write("file", "x");
  Result<std::unique_ptr<Origin>> o = makeOrigin(config::OriginOptions{dir / "file"});
  ASSERT_FALSE(o.isOk());
  EXPECT_EQ(o.status().code(), Code::kInvalid);
  EXPECT_NE(o.status().message().find(dir / "file"), std::string::npos) << o.status().message();
  EXPECT_NE(o.status().message().find("not a directory"), std::string::npos);
}

}  // namespace
}  // namespace epochfs::origin
