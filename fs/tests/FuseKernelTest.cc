// The INIT parsing and patching that turn FUSE passthrough on past libfuse 3.14.
#include "fs/FuseKernel.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "fs/FuseRequestCounts.h"

namespace epochfs::fs::fusek {
namespace {

template <typename T>
void put(std::vector<std::byte>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
template <typename T>
T get(std::span<const std::byte> b, size_t at) {
  T v{};
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

// An INIT request as the kernel sends it: header, then major, minor, max_readahead, flags,
// flags2 (7.36+).
std::vector<std::byte> initRequest(uint32_t minor, uint32_t flags, uint32_t flags2,
                                   bool withFlags2 = true) {
  std::vector<std::byte> b(kInHeaderSize + (withFlags2 ? 64 : 16));
  put<uint32_t>(b, 0, static_cast<uint32_t>(b.size()));
  put<uint32_t>(b, 4, kInit);
  put<uint64_t>(b, 8, 77);
  put<uint32_t>(b, kInHeaderSize + 0, 7);
  put<uint32_t>(b, kInHeaderSize + 4, minor);
  put<uint32_t>(b, kInHeaderSize + 12, flags);
  if (withFlags2) put<uint32_t>(b, kInHeaderSize + 16, flags2);
  return b;
}

TEST(FuseKernelTest, ParsesAPassthroughOffer) {
  auto req = initRequest(44, kInitExt, kPassthrough2);
  auto o = parseInit(req);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->major, 7u);
  EXPECT_EQ(o->minor, 44u);
  EXPECT_TRUE(o->passthrough);
  EXPECT_EQ(requestUnique(req), 77u);
  EXPECT_EQ(requestOpcode(req), kInit);
}

TEST(FuseKernelTest, NoOfferWithoutInitExtOrTheBit) {
  // flags2 is only valid with FUSE_INIT_EXT in flags.
  auto noExt = initRequest(44, 0, kPassthrough2);
  EXPECT_FALSE(parseInit(noExt)->passthrough);
  auto noBit = initRequest(44, kInitExt, 1u << 4);
  EXPECT_FALSE(parseInit(noBit)->passthrough);
  // An old kernel's 16-byte fuse_init_in has no flags2 at all.
  auto old = initRequest(31, kInitExt, 0, /*withFlags2=*/false);
  ASSERT_TRUE(parseInit(old).has_value());
  EXPECT_FALSE(parseInit(old)->passthrough);
}

TEST(FuseKernelTest, OtherRequestsAndShortOnesAreNotInit) {
  auto req = initRequest(44, kInitExt, kPassthrough2);
  put<uint32_t>(req, 4, kLookup);
  EXPECT_FALSE(parseInit(req).has_value());
  std::vector<std::byte> tiny(10);
  EXPECT_FALSE(parseInit(tiny).has_value());
  EXPECT_EQ(requestOpcode(tiny), 0u);
  EXPECT_EQ(requestUnique(tiny), 0u);
}

TEST(FuseKernelTest, EnablePassthroughSetsTheBitsTheKernelReads) {
  std::vector<std::byte> out(64);
  put<uint32_t>(out, 0, 7);
  put<uint32_t>(out, 4, 31);
  put<uint32_t>(out, 12, 1u << 0);  // FUSE_ASYNC_READ, as libfuse sends it
  put<uint32_t>(out, 32, 1u << 1);  // a flags2 bit already there stays
  ASSERT_TRUE(enablePassthrough(out, 1));
  EXPECT_EQ(get<uint32_t>(out, 12), (1u << 0) | kInitExt);
  EXPECT_EQ(get<uint32_t>(out, 32), (1u << 1) | kPassthrough2);
  EXPECT_EQ(get<uint32_t>(out, 36), 1u);  // max_stack_depth
  EXPECT_EQ(get<uint32_t>(out, 4), 31u);  // the minor libfuse chose is kept
}

TEST(FuseKernelTest, EnablePassthroughRefusesWhatTheKernelWouldIgnore) {
  std::vector<std::byte> out(64);
  put<uint32_t>(out, 12, kWritebackCache);
  const auto before = out;
  EXPECT_FALSE(enablePassthrough(out, 1));  // passthrough and writeback cache exclude each other
  EXPECT_EQ(out, before);
  std::vector<std::byte> ok(64);
  EXPECT_FALSE(enablePassthrough(ok, 0));
  EXPECT_FALSE(enablePassthrough(ok, kMaxStackDepth + 1));
  EXPECT_TRUE(enablePassthrough(ok, kMaxStackDepth));
  std::vector<std::byte> shortBody(24);  // protocol < 7.23: no room for flags2
  EXPECT_FALSE(enablePassthrough(shortBody, 1));
}

TEST(FuseKernelTest, RequestCountsNameEveryOpcodeAndFoldTheRest) {
  FuseRequestCounts c;
  c.count(kRead);
  c.count(kRead);
  c.count(kOpen);
  c.count(63);    // unnamed
  c.count(4096);  // out of range
  EXPECT_EQ(c.of(kRead), 2u);
  uint64_t other = 0, read = 0;
  for (const auto& [name, n] : c.snapshot()) {
    if (name == "other") other = n;
    if (name == "read") read = n;
  }
  EXPECT_EQ(read, 2u);
  EXPECT_EQ(other, 2u);
  EXPECT_EQ(opcodeName(kReaddirplus), "readdirplus");
  EXPECT_TRUE(opcodeName(63).empty());
}

}  // namespace
}  // namespace epochfs::fs::fusek
