// origin/tests/FaultyOriginTest.cc
#include "origin/testing/FaultyOrigin.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "origin/testing/MemoryOrigin.h"

namespace epochfs::origin {
namespace {

class FaultyOriginTest : public ::testing::Test {
 protected:
  void SetUp() override { memory_.put("f", "0123456789"); }
  Result<size_t> readF(std::span<std::byte> buf, uint64_t offset = 0) {
    return faulty_.read("f", "v1", offset, buf);
  }

  MemoryOrigin memory_;
  FaultyOrigin faulty_{memory_};
};

TEST_F(FaultyOriginTest, PassesThroughWhenNoFaultIsSet) {
  std::vector<std::byte> buf(4);
  Result<size_t> n = readF(buf, 3);
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(static_cast<char>(buf[0]), '3');
  EXPECT_EQ(faulty_.readCalls(), 1u);
  EXPECT_EQ(faulty_.describe(), "faulty:memory:");
  EXPECT_TRUE(faulty_.stat("f").isOk());
  EXPECT_TRUE(faulty_.list("").isOk());
}

TEST_F(FaultyOriginTest, FailsExactlyTheNextNReadsWithoutReachingTheInnerOrigin) {
  faulty_.failNextReads(2);
  std::vector<std::byte> buf(4);
  for (int i = 0; i < 2; ++i) {
    Result<size_t> n = readF(buf);
    ASSERT_FALSE(n.isOk());
    EXPECT_EQ(n.status().code(), Code::kUnavailable);
  }
  EXPECT_EQ(memory_.readCalls(), 0u);
  EXPECT_EQ(faulty_.readCalls(), 0u);
  EXPECT_TRUE(readF(buf).isOk());
  EXPECT_EQ(faulty_.readCalls(), 1u);

  faulty_.failNextReads(1, Code::kIo);
  EXPECT_EQ(readF(buf).status().code(), Code::kIo);
  EXPECT_TRUE(readF(buf).isOk());
}

TEST_F(FaultyOriginTest, ConcurrentReadersShareTheInjectedFailures) {
  faulty_.failNextReads(5);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      std::vector<std::byte> buf(4);
      for (int i = 0; i < 20; ++i) {
        if (!readF(buf).isOk()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 5);
  EXPECT_EQ(faulty_.readCalls(), 8u * 20 - 5);
}

TEST_F(FaultyOriginTest, DelaysReads) {
  faulty_.setReadDelay(std::chrono::milliseconds(30));
  std::vector<std::byte> buf(4);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(readF(buf).isOk());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

TEST_F(FaultyOriginTest, TruncatedReadsReturnHalf) {
  faulty_.setTruncateReads(true);
  std::vector<std::byte> buf(6);
  Result<size_t> n = readF(buf);
  ASSERT_TRUE(n.isOk());
  EXPECT_EQ(*n, 3u);  // short although the file has 10 bytes
  faulty_.setTruncateReads(false);
  n = readF(buf);
  ASSERT_TRUE(n.isOk());
  EXPECT_EQ(*n, 6u);
}

}  // namespace
}  // namespace epochfs::origin
