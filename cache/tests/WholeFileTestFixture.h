// cache/tests/WholeFileTestFixture.h: BlockCacheTest with helpers for openWhole hand-outs
// (BlockCacheWholeTest.cc, BlockCacheObjectTest.cc).
#pragma once

#include <unistd.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "cache/BlockCache.h"
#include "cache/tests/BlockCacheTestFixture.h"

namespace epochfs::cache::testing {

class WholeFileTest : public BlockCacheTest {
 protected:
  using WholeFile = BlockCache::WholeFile;
  using WholeMiss = BlockCache::WholeMiss;

  ~WholeFileTest() override {
    for (int fd : fds_) ::close(fd);
  }

  // openWhole, expected to hand `f` out; the fd is closed with the test.
  WholeFile handOut(BlockCache& c, const FileRef& f) {
    auto r = c.openWhole(f);
    EXPECT_TRUE(std::holds_alternative<WholeFile>(r))
        << "declined: " << static_cast<int>(std::get<WholeMiss>(r));
    if (!std::holds_alternative<WholeFile>(r)) return WholeFile{};
    WholeFile w = std::get<WholeFile>(r);
    fds_.push_back(w.fd);
    return w;
  }
  // Why openWhole declines `f`, or nullopt if it hands it out (closed again at once).
  static std::optional<WholeMiss> declined(BlockCache& c, const FileRef& f) {
    auto r = c.openWhole(f);
    if (auto* w = std::get_if<WholeFile>(&r)) {
      ::close(w->fd);
      return std::nullopt;
    }
    return std::get<WholeMiss>(r);
  }
  // All the fd holds (up to `size` + 1 bytes, so that a longer file shows).
  static std::string readFd(int fd, uint64_t size) {
    std::string buf(size + 1, '\0');
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(done));
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    buf.resize(done);
    return buf;
  }

  std::vector<int> fds_;
};

}  // namespace epochfs::cache::testing
