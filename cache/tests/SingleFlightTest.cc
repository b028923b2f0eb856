// SingleFlight alone: one flight per block version, retired only by its own leader, and its
// result shared with every reader that joined it.
#include "cache/SingleFlight.h"

#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cache/Index.h"

namespace epochfs::cache {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const FetchedBlock> makeBlock(const std::string& bytes) {
  auto b = std::make_shared<FetchedBlock>();
  b->size = bytes.size();
  b->bytes = std::make_unique<std::byte[]>(bytes.size());
  std::memcpy(b->bytes.get(), bytes.data(), bytes.size());
  return b;
}

std::string bytesOf(const FetchedBlock& b) {
  return std::string(reinterpret_cast<const char*>(b.bytes.get()), b.size);
}

const FetchedBlock* blockOf(const FetchResult& r) { return r.value().get(); }

const std::string kBlock = blockKey("data/a.bin", 3);

TEST(SingleFlightTest, TheFlightKeyNamesTheBlockAndTheVersion) {
  EXPECT_NE(SingleFlight::flightKey(kBlock, "v1"), SingleFlight::flightKey(kBlock, "v2"));
  EXPECT_NE(SingleFlight::flightKey(kBlock, "v1"),
            SingleFlight::flightKey(blockKey("data/a.bin", 4), "v1"));
  EXPECT_EQ(SingleFlight::flightKey(kBlock, "v1"), SingleFlight::flightKey(kBlock, "v1"));
  // Where the block key ends and the etag begins is part of the name.
  EXPECT_NE(SingleFlight::flightKey("ab", "c"), SingleFlight::flightKey("a", "bc"));
}

TEST(SingleFlightTest, ALedFlightIsFoundUnderItsKeyOnly) {
  SingleFlight sf;
  const std::string k1 = SingleFlight::flightKey(kBlock, "v1");
  const std::string k2 = SingleFlight::flightKey(kBlock, "v2");
  EXPECT_EQ(sf.find(k1), nullptr);
  EXPECT_FALSE(sf.contains(k1));

  const std::shared_ptr<SingleFlight::Flight> f = sf.lead(k1, /*prefetch=*/false);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(sf.find(k1), f);
  EXPECT_TRUE(sf.contains(k1));
  EXPECT_EQ(sf.find(k2), nullptr) << "another version is another flight";
  EXPECT_FALSE(sf.contains(k2));
  EXPECT_EQ(sf.size(), 1u);

  const std::shared_ptr<SingleFlight::Flight> g = sf.lead(k2, /*prefetch=*/false);
  EXPECT_NE(g, f);
  EXPECT_EQ(sf.size(), 2u);
}

TEST(SingleFlightTest, AFlightRemembersWhetherAPrefetcherLedIt) {
  SingleFlight sf;
  EXPECT_TRUE(sf.lead("p", /*prefetch=*/true)->prefetch);
  EXPECT_FALSE(sf.lead("d", /*prefetch=*/false)->prefetch);
  EXPECT_TRUE(sf.find("p")->prefetch);
}

TEST(SingleFlightTest, RetireEndsTheLeadersOwnFlight) {
  SingleFlight sf;
  const std::string k = SingleFlight::flightKey(kBlock, "v1");
  const auto f = sf.lead(k, false);
  sf.lead("other", false);
  sf.retire(k, f);
  EXPECT_FALSE(sf.contains(k));
  EXPECT_EQ(sf.find(k), nullptr);
  EXPECT_TRUE(sf.contains("other"));
  sf.retire(k, f);  // again: nothing left to end
  sf.retire("never led", f);
  EXPECT_EQ(sf.size(), 1u);
}

TEST(SingleFlightTest, RetiringAnOldFlightLeavesANewerFlightUnderTheSameKey) {
  SingleFlight sf;
  const std::string k = SingleFlight::flightKey(kBlock, "v1");
  const auto first = sf.lead(k, false);
  sf.retire(k, first);
  // A reader missed again after the first fill and leads anew; the first leader's late retire
  // must not end it.
  const auto second = sf.lead(k, false);
  sf.retire(k, first);
  EXPECT_EQ(sf.find(k), second);
  // Nor may another flight's pointer under a different key.
  const auto stray = sf.lead("other", false);
  sf.retire(k, stray);
  EXPECT_EQ(sf.find(k), second);
  sf.retire(k, second);
  EXPECT_FALSE(sf.contains(k));
}

TEST(SingleFlightTest, ReadersThatJoinedGetTheLeadersBlockEvenAfterRetire) {
  SingleFlight sf;
  const std::string k = SingleFlight::flightKey(kBlock, "v1");
  const auto leader = sf.lead(k, false);
  // Two readers join while the fetch is out; one waits on a thread of its own.
  const std::shared_future<FetchResult> early = sf.find(k)->result;
  const std::shared_future<FetchResult> late = sf.find(k)->result;
  std::string seenByThread;
  std::thread waiter([late, &seenByThread] {
    const FetchResult& r = late.get();  // blocks until the leader publishes
    seenByThread = r.isOk() ? bytesOf(**r) : r.status().toString();
  });

  sf.retire(k, leader);
  leader->promise.set_value(FetchResult(makeBlock("fetched bytes")));
  waiter.join();
  EXPECT_EQ(seenByThread, "fetched bytes");
  ASSERT_TRUE(early.get().isOk());
  EXPECT_EQ(blockOf(early.get()), blockOf(late.get())) << "one buffer, shared";
  EXPECT_EQ(blockOf(early.get()), blockOf(leader->result.get()));
}

TEST(SingleFlightTest, ReadersThatJoinedGetTheLeadersError) {
  SingleFlight sf;
  const auto leader = sf.lead("k", /*prefetch=*/true);
  const std::shared_future<FetchResult> joined = sf.find("k")->result;
  EXPECT_EQ(joined.wait_for(0s), std::future_status::timeout) << "nothing published yet";
  leader->promise.set_value(FetchResult(unavailable("origin down")));
  ASSERT_EQ(joined.wait_for(0s), std::future_status::ready);
  EXPECT_FALSE(joined.get().isOk());
  EXPECT_EQ(joined.get().status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace epochfs::cache
