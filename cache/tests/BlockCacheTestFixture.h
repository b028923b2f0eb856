// cache/tests/BlockCacheTestFixture.h: a BlockCache over a MemoryOrigin (through a
// FaultyOrigin) in a scratch dir.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/tests/CacheTestUtil.h"
#include "config/Options.h"
#include "origin/testing/FaultyOrigin.h"
#include "origin/testing/MemoryOrigin.h"
#include "policy/Policy.h"

namespace epochfs::cache::testing {

inline constexpr uint64_t kBlock = 64 * 1024;

class BlockCacheTest : public ::testing::Test {
 protected:
  BlockCacheTest() {
    opts_.dir = dir_.path() + "/cache";
    opts_.sizeBytes = 16 * config::kMiB;
    opts_.minFreeBytes = 0;
    opts_.blockSizeBytes = kBlock;
  }

  std::unique_ptr<policy::Policy> makePolicy(const std::string& name) {
    auto p = policy::makePolicy(name);
    EXPECT_TRUE(p.isOk()) << p.status().toString();
    return std::move(*p);
  }

  // Opens the cache over faulty_ (which passes everything through unless told otherwise).
  std::unique_ptr<BlockCache> open(std::unique_ptr<policy::Policy> policy) {
    auto c = BlockCache::open(opts_, faulty_, std::move(policy));
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    return c.isOk() ? std::move(*c) : nullptr;
  }
  std::unique_ptr<BlockCache> open(const std::string& policy = "lru") {
    return open(makePolicy(policy));
  }

  // Puts `bytes` at `key` in the origin and returns the FileRef fs/ would build from stat().
  FileRef put(const std::string& key, std::string bytes) {
    origin_.put(key, std::move(bytes));
    return ref(key);
  }
  FileRef ref(const std::string& key) {
    auto info = origin_.stat(key);
    EXPECT_TRUE(info.isOk()) << info.status().toString();
    return FileRef{key, info->etag, info->size};
  }

  static Result<std::string> readRange(BlockCache& c, const FileRef& f, uint64_t off,
                                       size_t len) {
    std::string buf(len, '\0');
    auto n = c.read(f, off, std::as_writable_bytes(std::span<char>(buf.data(), buf.size())));
    if (!n.isOk()) return n.status();
    buf.resize(*n);
    return buf;
  }
  static std::string readAll(BlockCache& c, const FileRef& f) {
    auto r = readRange(c, f, 0, f.size + 10);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? *r : std::string();
  }

  // Origin reads so far, as seen below the fault injector.
  uint64_t originReads() const { return origin_.readCalls(); }

  TempDir dir_;
  origin::MemoryOrigin origin_;
  origin::FaultyOrigin faulty_{origin_};
  config::CacheOptions opts_;
};

}  // namespace epochfs::cache::testing
