// origin/tests/OriginContract.h: the contract every Origin implementation must pass.
//
// To run it against an implementation, write a factory that builds an origin holding exactly
// the given files (key -> bytes), instantiate the suite, and link epochfs_origin_contract:
//
//   std::unique_ptr<OriginEnv> makeS3Env(const OriginFiles& files) { ... upload, return ... }
//   INSTANTIATE_TEST_SUITE_P(S3, OriginContractTest,
//                            ::testing::Values(OriginImpl{"S3", &makeS3Env}), originImplName);
//
// Each test gets a fresh origin from the factory. See MemoryOriginTest.cc, PosixOriginTest.cc.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "origin/Origin.h"

namespace epochfs::origin {

using OriginFiles = std::map<std::string, std::string>;  // key -> bytes

// One origin under test, holding the files it was made with, and whatever keeps it alive
// (a temp dir, a bucket).
class OriginEnv {
 public:
  virtual ~OriginEnv() = default;
  virtual Origin& origin() = 0;
  // Replaces the bytes of existing file `key` the way a dataset owner would (new upload,
  // copy + rename), so that its etag changes even when the size does not.
  virtual void rewrite(const std::string& key, const std::string& bytes) = 0;
};

struct OriginImpl {
  std::string name;  // suffix of the test names: letters, digits, '_'
  std::function<std::unique_ptr<OriginEnv>(const OriginFiles&)> make;
};

// So a failing test names the implementation instead of dumping the struct's bytes.
inline void PrintTo(const OriginImpl& impl, std::ostream* os) { *os << impl.name; }

// For INSTANTIATE_TEST_SUITE_P's last argument.
inline std::string originImplName(const ::testing::TestParamInfo<OriginImpl>& info) {
  return info.param.name;
}

class OriginContractTest : public ::testing::TestWithParam<OriginImpl> {
 protected:
  // The files every contract test starts from: nested dirs, names with spaces, '+', '%',
  // '=' and UTF-8, names that sort differently as keys and as names ("dir+", "dir.x",
  // "dir"), an empty file, a file over 1 MiB.
  static const OriginFiles& files();

  void SetUp() override { env_ = GetParam().make(files()); }
  Origin& origin() { return env_->origin(); }

  std::unique_ptr<OriginEnv> env_;
};

}  // namespace epochfs::origin
