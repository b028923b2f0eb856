// policy/tests/SimTest.cc: policy/sim against the reference model, reference/sim.py.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "policy/Lru.h"
#include "policy/sim/Experiment.h"
#include "policy/sim/Replay.h"
#include "policy/sim/SvgPlot.h"

namespace epochfs::policy::sim {
namespace {

TEST(ReplayTest, TracesArePermutationsAndSeeded) {
  EpochTrace a = makeEpochTrace(50, 3, 1);
  EXPECT_EQ(a, makeEpochTrace(50, 3, 1));
  EXPECT_NE(a, makeEpochTrace(50, 3, 2));
  for (auto perm : a) {
    std::sort(perm.begin(), perm.end());
    for (BlockId i = 0; i < 50; ++i) EXPECT_EQ(perm[i], i);
  }
}

// The same order every epoch and a cache one item short: LRU never hits.
TEST(ReplayTest, LruOnARepeatedOrderLargerThanTheCacheNeverHits) {
  EpochTrace t(4, std::vector<BlockId>{0, 1, 2, 3, 4});
  Lru lru;
  ReplayOptions ro;
  ro.capacity = 4;
  EXPECT_EQ(replay(lru, t, ro).steadyHitRatio(), 0.0);
}

TEST(ExperimentTest, BoundsAreTheClosedForms) {
  Bounds b = bounds(10000, 5000, 0.25);
  EXPECT_NEAR(b.lru, 0.5 + 0.5 * std::log(0.5), 1e-12);
  EXPECT_DOUBLE_EQ(b.fixed, 0.5);
  EXPECT_NEAR(b.epoch, 0.8465, 1e-4);  // sim.py --theory: unaware_bound
  EXPECT_DOUBLE_EQ(b.plan, 0.75);
  EXPECT_DOUBLE_EQ(bounds(100, 90, 0.5).plan, 1.0);
}

TEST(ExperimentTest, RejectsBadOptions) {
  ExperimentOptions o;
  o.fractions = {1.5};
  EXPECT_EQ(runExperiment(o).status().code(), Code::kInvalid);
  o = ExperimentOptions{};
  o.policies = {"mru"};
  EXPECT_EQ(runExperiment(o).status().code(), Code::kInvalid);
  o = ExperimentOptions{};
  o.epochs = 1;
  EXPECT_EQ(runExperiment(o).status().code(), Code::kInvalid);
}

TEST(ExperimentTest, PoliciesByDefaultAreThoseWithoutAPlanAndPlannedWithOne) {
  ExperimentOptions o;
  EXPECT_EQ(experimentPolicies(o), (std::vector<std::string>{"lru", "fixed", "epoch"}));
  o.plan = true;
  EXPECT_EQ(experimentPolicies(o),
            (std::vector<std::string>{"lru", "fixed", "epoch", "planned"}));
  o.policies = {"epoch"};
  EXPECT_EQ(experimentPolicies(o), (std::vector<std::string>{"epoch"}));
}

TEST(SvgPlotTest, HasALinePerPolicyAndItsBound) {
  ExperimentOptions o;
  o.files = 200;
  o.fractions = {0.25, 0.5};
  o.seeds = 1;
  o.plan = true;
  Result<std::vector<Cell>> cells = runExperiment(o);
  ASSERT_TRUE(cells.isOk());
  std::string svg = hitRatioSvg(*cells, o);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  size_t lines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 8u);  // 4 policies, each simulated + bound
  for (const char* p : {"lru", "fixed", "epoch", "planned"}) {
    EXPECT_NE(svg.find(std::string(">") + p + " (simulated)"), std::string::npos) << p;
  }
}

// Runs reference/sim.py and returns mean hit ratio per "policy B ratio".
std::map<std::string, double> runReference(const std::string& args) {
  std::map<std::string, double> out;
  const std::string csv = ::testing::TempDir() + "/simpy.csv";
  const std::string cmd = std::string(EPOCHFS_PYTHON3) + " " + EPOCHFS_SIM_PY + " " + args +
                          " --csv " + csv + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) return out;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // policy,B,ratio,seed,hit,miss,prefetch,eta
  std::map<std::string, std::pair<double, int>> acc;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string pol, b, ratio, seed, hit;
    std::getline(ss, pol, ',');
    std::getline(ss, b, ',');
    std::getline(ss, ratio, ',');
    std::getline(ss, seed, ',');
    std::getline(ss, hit, ',');
    char key[64];
    std::snprintf(key, sizeof key, "%s %g %g", pol.c_str(), b.empty() ? 0.0 : std::stod(b),
                  std::stod(ratio));
    acc[key].first += std::stod(hit);
    acc[key].second += 1;
  }
  for (auto& [k, v] : acc) out[k] = v.first / v.second;
  return out;
}

// The acceptance check of issue 4: policy/sim's numbers agree with sim.py within 0.02.
// Same N, E, seeds and fractions; the traces differ (different generators), so this compares
// means. The same comparison at N=10000 is in docs/policies.md.
TEST(ReferenceAgreementTest, MatchesSimPyWithinTwoHundredths) {
  if (std::string(EPOCHFS_PYTHON3).empty()) GTEST_SKIP() << "no python3";
  const std::map<std::string, double> ref = runReference(
      "--N 3000 --E 4 --seeds 3 --ratios 0.1,0.25,0.5,0.75 --B 0,0.25,0.5 "
      "--policies lru,minio,epochbp,pf_epoch,pf_clair");
  ASSERT_FALSE(ref.empty()) << "sim.py failed";
  // ours -> theirs
  struct Pair {
    const char* ours;
    bool plan;
    const char* theirs;
  };
  const Pair pairs[] = {{"lru", false, "lru"},      {"fixed", false, "minio"},
                        {"epoch", false, "pf_epoch"}, {"planned", true, "pf_clair"}};
  double worst = 0;
  for (double b : {0.0, 0.25, 0.5}) {
    for (const Pair& pr : pairs) {
      if ((std::string(pr.ours) == "lru" || std::string(pr.ours) == "fixed") && b > 0) continue;
      ExperimentOptions o;
      o.files = 3000;
      o.epochs = 4;
      o.seeds = 3;
      o.fractions = {0.1, 0.25, 0.5, 0.75};
      o.bandwidth = b;
      o.plan = pr.plan;
      o.policies = {pr.ours};
      Result<std::vector<Cell>> cells = runExperiment(o);
      ASSERT_TRUE(cells.isOk());
      for (const Cell& c : *cells) {
        char key[64];
        std::string theirs = pr.theirs;
        double tb = (theirs == "lru" || theirs == "minio") ? 0.0 : b;
        std::snprintf(key, sizeof key, "%s %g %g", pr.theirs, tb, c.fraction);
        auto it = ref.find(key);
        ASSERT_NE(it, ref.end()) << key;
        EXPECT_NEAR(c.hitRatio, it->second, 0.02) << pr.ours << " vs " << key;
        worst = std::max(worst, std::abs(c.hitRatio - it->second));
      }
    }
  }
  // epochbp is pf_epoch without prefetch: compare it too.
  ExperimentOptions o;
  o.files = 3000;
  o.epochs = 4;
  o.seeds = 3;
  o.fractions = {0.1, 0.25, 0.5, 0.75};
  o.bandwidth = 0;
  o.policies = {"epoch"};
  Result<std::vector<Cell>> cells = runExperiment(o);
  ASSERT_TRUE(cells.isOk());
  for (const Cell& c : *cells) {
    char key[64];
    std::snprintf(key, sizeof key, "epochbp 0 %g", c.fraction);
    ASSERT_TRUE(ref.contains(key)) << key;
    EXPECT_NEAR(c.hitRatio, ref.at(key), 0.02) << key;
  }
  std::printf("largest |policy/sim - sim.py| = %.4f\n", worst);
}

}  // namespace
}  // namespace epochfs::policy::sim
