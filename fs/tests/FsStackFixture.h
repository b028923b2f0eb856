// fs/tests/FsStackFixture.h: the stack a mount runs on, without FUSE, for the fs/ tests: an
// origin (a MemoryOrigin unless a test brings its own) in an InstrumentedOrigin, a real
// BlockCache in a scratch dir, and a Namespace and a FileSystem over them.
//
// Each layer is opened by its own call, so that a test stops at the layer it tests
// (NamespaceTest needs no FileSystem), sets options before a layer opens, or reopens one (a
// remount: a new cache on the same dir). FsStack is not a ::testing::Test, so that a TEST_F
// fixture, a TEST_P fixture and a helper holding one mount can all be built on it:
// `class FooTest : public ::testing::Test, protected FsStack`. The helpers fail the test
// (ASSERT) when a layer does not open, and a fatal failure in SetUp skips the test body.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/tests/ManualExecutor.h"
#include "common/testing/TempDir.h"
#include "config/Options.h"
#include "fs/FileSystem.h"
#include "fs/Namespace.h"
#include "origin/Origin.h"
#include "origin/testing/MemoryOrigin.h"
#include "policy/Policy.h"

namespace epochfs::fs {

class FsStack {
 public:
  // opts_: mountpoint /mnt/test, source "memory:", a 64 MiB cache in dir_ that needs no free
  // space on its filesystem; the other options at their defaults.
  FsStack() {
    opts_.origin.source = "memory:";
    opts_.mountpoint = "/mnt/test";
    opts_.cache.dir = dir_.path() + "/cache";
    opts_.cache.sizeBytes = 64 * config::kMiB;
    opts_.cache.minFreeBytes = 0;
  }
  ~FsStack() { stop(); }
  FsStack(const FsStack&) = delete;
  FsStack& operator=(const FsStack&) = delete;

 protected:
  // origin_: `origin`, counted. Closes whatever was open first.
  void useOrigin(std::unique_ptr<origin::Origin> origin) {
    stop();
    origin_ = std::make_unique<origin::InstrumentedOrigin>(std::move(origin));
  }
  // origin_ over a new, empty MemoryOrigin, which mem_ points at.
  void useMemoryOrigin() {
    auto mem = std::make_unique<origin::MemoryOrigin>();
    origin::MemoryOrigin* raw = mem.get();
    useOrigin(std::move(mem));
    mem_ = raw;
  }

  // cache_: the cache over origin_ on opts_.cache with policy `policy`, its prefetcher on
  // exec_, which runs only when a test steps it (cache/tests/ManualExecutor.h). A cache
  // already open is closed first, with the namespace and file system over it, so that the new
  // one finds the dir as a remount does.
  void openCache(const std::string& policy = "lru") {
    fs_.reset();
    ns_.reset();
    cache_.reset();
    ASSERT_TRUE(origin_) << "useOrigin() or useMemoryOrigin() first";
    auto p = policy::makePolicy(policy);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    auto e = std::make_unique<cache::testing::ManualExecutor>();
    exec_ = e.get();
    auto c = cache::BlockCache::open(opts_.cache, *origin_, std::move(*p), std::move(e));
    ASSERT_TRUE(c.isOk()) << c.status().toString();
    cache_ = std::move(*c);
  }

  // Runs cache_'s prefetcher (queued listings, then prefetches) until it has nothing left to
  // do now (ManualExecutor::settle).
  void settle() { exec_->settle(); }

  // A Namespace over origin_ and cache_'s store with metadata.ttl `ttl` for origin `source`;
  // null (and the test failed) if it does not open.
  std::unique_ptr<Namespace> openNamespace(double ttl, const std::string& source) {
    EXPECT_TRUE(cache_) << "openCache() first";
    if (!cache_) return nullptr;
    auto ns = Namespace::open(NamespaceOptions{ttl, source, [this] { return nsNow_; }}, *origin_,
                              cache_->namespaceStore());
    EXPECT_TRUE(ns.isOk()) << ns.status().toString();
    return ns.isOk() ? std::move(*ns) : nullptr;
  }

  // ns_ (metadata.ttl `ttl`, source opts_.origin.source) and fs_ over origin_ and cache_.
  void openFileSystem(double ttl = 0) {
    ns_ = openNamespace(ttl, opts_.origin.source);
    ASSERT_TRUE(ns_);
    auto fs = FileSystem::create(opts_, *origin_, origin_->counters(), *ns_, *cache_);
    ASSERT_TRUE(fs.isOk()) << fs.status().toString();
    fs_ = std::move(*fs);
  }

  // Closes everything, the top layer first, the origin included (dir_ stays).
  void stop() {
    fs_.reset();
    ns_.reset();
    cache_.reset();
    mem_ = nullptr;
    origin_.reset();
  }

  test::TempDir dir_;
  origin::MemoryOrigin* mem_ = nullptr;  // owned by origin_ (useMemoryOrigin)
  std::unique_ptr<origin::InstrumentedOrigin> origin_;
  config::MountOptions opts_;
  std::unique_ptr<cache::BlockCache> cache_;
  // The clock the namespace's listings expire by: still unless a test moves it.
  std::chrono::steady_clock::time_point nsNow_ = std::chrono::steady_clock::now();
  cache::testing::ManualExecutor* exec_ = nullptr;  // cache_'s prefetcher's, owned by cache_
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<FileSystem> fs_;
};

}  // namespace epochfs::fs
