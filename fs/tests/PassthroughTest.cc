// Passthrough's per-inode bookkeeping over a real BlockCache: one backing file per inode while
// it has opens, the mode decided by the first open, direct I/O for another version, and the
// kernel's refusal taken gracefully. The kernel side is a fake that records what it is asked.
#include "fs/Passthrough.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fs/tests/FsStackFixture.h"

namespace epochfs::fs {
namespace {

class FakeKernel final : public BackingFiles {
 public:
  Result<int> open(int fd) override {
    if (refuse) return errnoStatus(EPERM, "FUSE_DEV_IOC_BACKING_OPEN");
    // The fd must be open on the cache file: read it, as the kernel would.
    std::string bytes(1 << 20, '\0');
    const ssize_t n = ::pread(fd, bytes.data(), bytes.size(), 0);
    bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
    seen.push_back(bytes);
    return ++lastId;
  }
  void close(int id) override { closed.push_back(id); }

  bool refuse = false;
  int lastId = 0;
  std::vector<std::string> seen;  // the bytes behind each registered fd
  std::vector<int> closed;
};

class PassthroughTest : public ::testing::Test, protected FsStack {
 protected:
  void SetUp() override {
    useMemoryOrigin();
    mem_->put("a.jpg", std::string(100 * 1024, 'a'));
    mem_->put("b.jpg", std::string(50 * 1024, 'b'));
    openCache();
    pt_ = std::make_unique<Passthrough>(*cache_, kernel_);
  }
  void TearDown() override { pt_.reset(); }

  cache::FileRef ref(const std::string& key) {
    auto info = origin_->stat(key);
    EXPECT_TRUE(info.isOk());
    return {key, info->etag, info->size};
  }
  void readWhole(const cache::FileRef& f) {
    std::vector<std::byte> buf(f.size);
    auto n = cache_->read(f, 0, buf);
    ASSERT_TRUE(n.isOk());
    ASSERT_EQ(*n, f.size);
  }

  FakeKernel kernel_;
  std::unique_ptr<Passthrough> pt_;
};

TEST_F(PassthroughTest, OpensOfACachedInodeShareOneBackingFileUntilTheLastRelease) {
  const auto a = ref("a.jpg");
  readWhole(a);
  const auto g1 = pt_->open(7, a);
  const auto g2 = pt_->open(7, a);
  ASSERT_EQ(g1.mode, IoMode::kPassthrough);
  EXPECT_EQ(g2.mode, IoMode::kPassthrough);
  EXPECT_EQ(g1.backingId, g2.backingId);
  ASSERT_EQ(kernel_.seen.size(), 1u);  // registered once
  EXPECT_EQ(kernel_.seen[0], std::string(100 * 1024, 'a'));
  EXPECT_EQ(pt_->stats().backingFiles, 1u);
  EXPECT_EQ(cache_->stats().whole.held, 1u);
  pt_->release(7, g1.mode);
  EXPECT_TRUE(kernel_.closed.empty());
  pt_->release(7, g2.mode);
  EXPECT_EQ(kernel_.closed, std::vector<int>{g1.backingId});
  EXPECT_EQ(pt_->stats().backingFiles, 0u);
  EXPECT_EQ(cache_->stats().whole.held, 0u);
  EXPECT_EQ(pt_->stats().opens, 2u);
}

TEST_F(PassthroughTest, AnInodeOpenThroughFuseStaysThereUntilItsOpensAreReleased) {
  const auto a = ref("a.jpg");
  const auto cold = pt_->open(3, a);  // not cached yet
  EXPECT_EQ(cold.mode, IoMode::kCached);
  readWhole(a);
  // Cached now, but a page-cache open is out: the kernel would refuse a passthrough one.
  const auto second = pt_->open(3, a);
  EXPECT_EQ(second.mode, IoMode::kCached);
  EXPECT_TRUE(kernel_.seen.empty());
  pt_->release(3, cold.mode);
  pt_->release(3, second.mode);
  EXPECT_EQ(pt_->open(3, a).mode, IoMode::kPassthrough);
  EXPECT_EQ(pt_->stats().cachedOpens, 2u);
}

TEST_F(PassthroughTest, AnotherVersionOfAPassthroughInodeGetsDirectIo) {
  const auto a = ref("a.jpg");
  readWhole(a);
  const auto g = pt_->open(4, a);
  ASSERT_EQ(g.mode, IoMode::kPassthrough);
  mem_->put("a.jpg", std::string(100 * 1024, 'z'));
  const auto v2 = pt_->open(4, ref("a.jpg"));
  EXPECT_EQ(v2.mode, IoMode::kDirect);
  EXPECT_EQ(pt_->stats().directOpens, 1u);
  pt_->release(4, v2.mode);  // holds nothing
  EXPECT_TRUE(kernel_.closed.empty());
  pt_->release(4, g.mode);
  EXPECT_EQ(kernel_.closed.size(), 1u);
}

TEST_F(PassthroughTest, DistinctInodesGetDistinctBackingFiles) {
  const auto a = ref("a.jpg");
  const auto b = ref("b.jpg");
  readWhole(a);
  readWhole(b);
  const auto ga = pt_->open(10, a);
  const auto gb = pt_->open(11, b);
  ASSERT_EQ(ga.mode, IoMode::kPassthrough);
  ASSERT_EQ(gb.mode, IoMode::kPassthrough);
  EXPECT_NE(ga.backingId, gb.backingId);
  ASSERT_EQ(kernel_.seen.size(), 2u);
  EXPECT_EQ(kernel_.seen[1], std::string(50 * 1024, 'b'));
}

TEST_F(PassthroughTest, ARefusalByTheKernelFallsBackAndReleasesTheHandOut) {
  const auto a = ref("a.jpg");
  readWhole(a);
  kernel_.refuse = true;
  const auto g = pt_->open(5, a);
  EXPECT_EQ(g.mode, IoMode::kCached);
  EXPECT_EQ(pt_->stats().backingFailures, 1u);
  EXPECT_EQ(cache_->stats().whole.held, 0u);
  pt_->release(5, g.mode);
  kernel_.refuse = false;
  EXPECT_EQ(pt_->open(5, a).mode, IoMode::kPassthrough);
}

}  // namespace
}  // namespace epochfs::fs
