// policy/tests/PolicyTest.cc: the factory, and what every policy must do.
#include "policy/Policy.h"

#include <random>

#include <gtest/gtest.h>

#include "policy/tests/Simulate.h"

namespace epochfs::policy {
namespace {

TEST(MakePolicyTest, KnownNames) {
  EXPECT_EQ(policyNames(), (std::vector<std::string_view>{"lru", "fixed", "epoch", "planned"}));
  for (std::string_view name : policyNames()) {
    Result<std::unique_ptr<Policy>> p = makePolicy(name);
    ASSERT_TRUE(p.isOk()) << name << ": " << p.status().toString();
    EXPECT_EQ((*p)->name(), name);
  }
}

TEST(MakePolicyTest, UnknownNameIsInvalidAndListsTheValidOnes) {
  for (std::string_view name : {"mru", "", "LRU", "lru "}) {
    Result<std::unique_ptr<Policy>> p = makePolicy(name);
    ASSERT_FALSE(p.isOk()) << name;
    EXPECT_EQ(p.status().code(), Code::kInvalid);
    const std::string& msg = p.status().message();
    EXPECT_NE(msg.find("'" + std::string(name) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lru, fixed, epoch, planned"), std::string::npos) << msg;
  }
}

class EveryPolicyTest : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Policy>> p = makePolicy(GetParam());
    ASSERT_TRUE(p.isOk());
    policy_ = std::move(*p);
  }
  std::unique_ptr<Policy> policy_;
};

INSTANTIATE_TEST_SUITE_P(All, EveryPolicyTest, ::testing::ValuesIn(policyNames()),
                         [](const ::testing::TestParamInfo<std::string_view>& info) {
                           return std::string(info.param);
                         });

TEST_P(EveryPolicyTest, EmptyPolicyIgnoresUnknownIds) {
  EXPECT_EQ(policy_->size(), 0u);
  EXPECT_EQ(policy_->pickVictim(), std::nullopt);
  policy_->onAccess(1);
  policy_->onErase(1);
  EXPECT_EQ(policy_->size(), 0u);
  EXPECT_TRUE(policy_->shouldAdmit(1, 0));  // there is room: every policy takes it
}

// Random traces: victims are always cached blocks and size() tracks the cache (checked
// inside simulate()), and a hit is never impossible.
TEST_P(EveryPolicyTest, StaysConsistentWithTheCacheOnRandomTraces) {
  std::mt19937 rng(11);
  std::vector<BlockId> trace;
  for (int i = 0; i < 20000; ++i) trace.push_back(rng() % 64);
  SimResult r = simulate(*policy_, trace, 16);
  EXPECT_GT(r.hits(), 0u);
  EXPECT_LE(policy_->size(), 16u);
}

}  // namespace
}  // namespace epochfs::policy
