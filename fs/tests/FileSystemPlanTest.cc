// .epochfs/plan through FileSystem (no FUSE mount): lookup, listing, open modes, write, the
// publish at flush, and the counters in the stats JSON.
#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <span>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/testing/TempDir.h"
#include "fs/ControlFiles.h"
#include "fs/FileSystem.h"
#include "origin/testing/MemoryOrigin.h"

namespace epochfs::fs {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kBlock = 64 * config::kKiB;
constexpr uint64_t kPid = 4242;  // the "opening process" of the plan file

class FileSystemPlanTest : public ::testing::Test {
 protected:
  // Builds origin, cache (with policy `policy`), namespace and file system.
  void start(const std::string& policy) {
    mem_ = new origin::MemoryOrigin();
    mem_->put("cls/a.jpg", "hello");                      // 1 block
    mem_->put("cls/b c.jpg", std::string(200000, 'x'));   // 4 blocks
    mem_->put("top.txt", "top");                          // 1 block
    mem_->put("sub/dir/deep.bin", std::string(10, 'd'));  // 1 block
    origin_ = std::make_unique<origin::InstrumentedOrigin>(std::unique_ptr<origin::Origin>(mem_));
    opts_.origin.source = "memory:";
    opts_.mountpoint = "/mnt/test";
    opts_.cache.dir = dir_.path() + "/cache";
    opts_.cache.sizeBytes = 64 * config::kMiB;
    opts_.cache.minFreeBytes = 0;
    opts_.cache.blockSizeBytes = kBlock;
    auto p = policy::makePolicy(policy);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    auto cache = cache::BlockCache::open(opts_.cache, *origin_, std::move(*p));
    ASSERT_TRUE(cache.isOk()) << cache.status().toString();
    cache_ = std::move(*cache);
    NamespaceOptions nsOpts;
    nsOpts.source = opts_.origin.source;
    auto ns = Namespace::open(nsOpts, *origin_, *cache_);
    ASSERT_TRUE(ns.isOk()) << ns.status().toString();
    ns_ = std::move(*ns);
    auto fs = FileSystem::create(opts_, *origin_, *ns_, *cache_);
    ASSERT_TRUE(fs.isOk()) << fs.status().toString();
    fs_ = std::move(*fs);
  }
  void SetUp() override { start("epoch"); }
  void TearDown() override { stop(); }
  void stop() {
    fs_.reset();
    ns_.reset();
    cache_.reset();
    origin_.reset();
  }

  // Opens .epochfs/plan for writing as process `caller`, found by lookup as the kernel would.
  std::unique_ptr<OpenFile> openPlan(uint64_t caller = kPid) {
    auto ctl = fs_->lookup(kRootIno, std::string(kControlDirName));
    EXPECT_TRUE(ctl.isOk());
    auto plan = fs_->lookup(ctl->ino, std::string(kPlanName));
    EXPECT_TRUE(plan.isOk());
    auto f = fs_->open(plan->ino, O_WRONLY | O_TRUNC, caller);
    EXPECT_TRUE(f.isOk()) << f.status().toString();
    return f.isOk() ? std::move(*f) : nullptr;
  }
  Result<size_t> write(OpenFile& f, std::string_view data) {
    return fs_->controlWrite(kPlanIno, f, data);
  }
  nlohmann::json stats() { return nlohmann::json::parse(fs_->statsJson()); }

  test::TempDir dir_;
  origin::MemoryOrigin* mem_ = nullptr;  // owned by origin_
  std::unique_ptr<origin::InstrumentedOrigin> origin_;
  config::MountOptions opts_;
  std::unique_ptr<cache::BlockCache> cache_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(FileSystemPlanTest, PlanIsAWriteOnlyFileOfTheControlDir) {
  auto ctl = fs_->lookup(kRootIno, ".epochfs");
  ASSERT_TRUE(ctl.isOk());
  auto plan = fs_->lookup(ctl->ino, "plan");
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_EQ(plan->ino, kPlanIno);
  EXPECT_FALSE(plan->isDir);
  EXPECT_EQ(plan->perm, 0200u);
  auto attr = fs_->getattr(kPlanIno);
  ASSERT_TRUE(attr.isOk());
  EXPECT_EQ(attr->perm, 0200u);
  EXPECT_FALSE(attr->isDir);
  // Not a name anywhere else.
  EXPECT_EQ(fs_->lookup(kRootIno, "plan").status().code(), Code::kNotFound);

  auto d = fs_->opendir(ctl->ino);
  ASSERT_TRUE(d.isOk());
  std::vector<std::string> names;
  for (const auto& e : (*d)->entries) names.push_back(e.name);
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("stats", "refresh", "plan"));
  for (size_t i = 0; i < names.size(); ++i) {
    // readdir and readdirplus hand out the inode lookup() gives for the name.
    auto byName = fs_->lookup(ctl->ino, names[i]);
    ASSERT_TRUE(byName.isOk()) << names[i];
    EXPECT_EQ(fs_->peekEntry(**d, i).ino, byName->ino) << names[i];
    EXPECT_EQ(fs_->lookupEntry(**d, i).ino, byName->ino) << names[i];
    EXPECT_EQ(fs_->peekEntry(**d, i).perm, byName->perm) << names[i];
  }
}

TEST_F(FileSystemPlanTest, ReadOpensAreRefused) {
  auto f = fs_->open(kPlanIno, O_RDONLY, kPid);
  ASSERT_FALSE(f.isOk());
  EXPECT_EQ(f.status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(fs_->open(kPlanIno, O_WRONLY, kPid).isOk());
  EXPECT_TRUE(fs_->open(kPlanIno, O_RDWR, kPid).isOk());
}

TEST_F(FileSystemPlanTest, WriteAndFlushPublishesKnownFiles) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  const std::string part1 = "# my epoch\ncls/b c.jpg\ntop.t";
  const std::string part2 = "xt\nmissing.jpg\ncls\nsub/dir\r\ncls/a.jpg\nsub/dir/deep.bin";
  auto n = write(*f, part1);
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  EXPECT_EQ(*n, part1.size());
  n = write(*f, part2);
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  EXPECT_EQ(*n, part2.size());
  // Nothing is published before close.
  EXPECT_EQ(stats()["plans"]["published"], 0);

  Status st = fs_->flush(*f);
  ASSERT_TRUE(st.isOk()) << st.toString();
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["paths"], 7);
  EXPECT_EQ(s["plans"]["unknown_paths"], 3) << "missing.jpg, and the directories cls, sub/dir";
  EXPECT_EQ(s["plans"]["planned_files"], 4);
  EXPECT_EQ(s["plans"]["planned_blocks"], 4 + 1 + 1 + 1);
  EXPECT_EQ(s["plans"]["rejected"], 0);
  EXPECT_EQ(s["plans"]["ignored"], 0);
  EXPECT_EQ(s["policy"]["name"], "epoch");
  EXPECT_EQ(s["policy"]["plan_active"], true);
  EXPECT_EQ(s["policy"]["active_plans"], 1);
  EXPECT_EQ(s["policy"]["plan_remaining_blocks"], 7);
  // A plan reads nothing from the origin by itself (no prefetchers here).
  EXPECT_EQ(s["origin"]["read_requests"], 0);
}

TEST_F(FileSystemPlanTest, FlushTwicePublishesOnce) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(write(*f, "cls/a.jpg\ntop.txt\n").isOk());
  ASSERT_TRUE(fs_->flush(*f).isOk());
  ASSERT_TRUE(fs_->flush(*f).isOk());  // a dup'ed descriptor closing
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["planned_files"], 2);
  EXPECT_EQ(s["plans"]["planned_blocks"], 2);

  // Another open (another process) is another plan.
  auto g = openPlan(kPid + 1);
  ASSERT_TRUE(g);
  ASSERT_TRUE(write(*g, "cls/b c.jpg\n").isOk());
  ASSERT_TRUE(fs_->flush(*g).isOk());
  s = stats();
  EXPECT_EQ(s["plans"]["published"], 2);
  EXPECT_EQ(s["plans"]["planned_files"], 3);
  EXPECT_EQ(s["plans"]["planned_blocks"], 6);
}

TEST_F(FileSystemPlanTest, MalformedWriteIsInvalidAndTheCloseFails) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(write(*f, "cls/a.jpg\n").isOk());
  auto n = write(*f, "top.txt\n../etc/passwd\n");
  ASSERT_FALSE(n.isOk());
  EXPECT_EQ(n.status().code(), Code::kInvalid);
  EXPECT_THAT(n.status().message(), HasSubstr("line 3"));
  EXPECT_THAT(n.status().message(), HasSubstr("'..'"));
  // Later writes fail too: the plan is broken for good.
  EXPECT_EQ(write(*f, "cls/b c.jpg\n").status().code(), Code::kInvalid);

  Status st = fs_->flush(*f);
  EXPECT_EQ(st.code(), Code::kInvalid);
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["rejected"], 1);
  EXPECT_EQ(s["plans"]["published"], 0);
  EXPECT_EQ(s["plans"]["planned_files"], 0);
  EXPECT_EQ(s["policy"]["plan_active"], false);
  // The second close of the same open file adds nothing.
  (void)fs_->flush(*f);
  EXPECT_EQ(stats()["plans"]["rejected"], 1);
}

TEST_F(FileSystemPlanTest, MalformedLastLineFailsAtClose) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  // The last line has no "\n": only close() sees it whole.
  ASSERT_TRUE(write(*f, "cls/a.jpg\n/abs/top.txt").isOk());
  Status st = fs_->flush(*f);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("line 2"));
  EXPECT_THAT(st.message(), HasSubstr("absolute"));
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["rejected"], 1);
  EXPECT_EQ(s["plans"]["published"], 0);
}

// A shell's `> plan` dup2()s the descriptor and closes the original before writing: a flush
// with nothing written publishes nothing, and the plan goes out at the flush after the writes.
TEST_F(FileSystemPlanTest, FlushWithNothingWrittenPublishesNothing) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(fs_->flush(*f).isOk());
  EXPECT_EQ(stats()["plans"]["published"], 0);
  ASSERT_TRUE(write(*f, "cls/a.jpg\n").isOk());
  ASSERT_TRUE(fs_->flush(*f).isOk());
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["paths"], 1);
  EXPECT_EQ(s["plans"]["ignored"], 0);
}

TEST_F(FileSystemPlanTest, WritesAfterAFlushAreTheNextPlan) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(write(*f, "cls/a.jpg\n").isOk());
  ASSERT_TRUE(fs_->flush(*f).isOk());
  ASSERT_TRUE(write(*f, "cls/a.jpg\ncls/b c.jpg\n").isOk());
  fs_->release(*f);  // the last close publishes what no flush did
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 2);
  EXPECT_EQ(s["plans"]["paths"], 3);
}

TEST_F(FileSystemPlanTest, LruIgnoresPlans) {
  stop();
  start("lru");
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(write(*f, "cls/a.jpg\ncls/b c.jpg\nnope\n").isOk());
  Status st = fs_->flush(*f);
  EXPECT_TRUE(st.isOk()) << "a plan the policy cannot use is no error: " << st.toString();
  nlohmann::json s = stats();
  EXPECT_EQ(s["policy"]["name"], "lru");
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["ignored"], 1);
  EXPECT_EQ(s["plans"]["unknown_paths"], 1);
  EXPECT_EQ(s["plans"]["planned_files"], 0);
  EXPECT_EQ(s["plans"]["planned_blocks"], 0);
  EXPECT_EQ(s["policy"]["plan_active"], false);
}

TEST_F(FileSystemPlanTest, StatsHaveThePrefetchAndEpochSections) {
  auto a = fs_->lookup(kRootIno, "top.txt");
  ASSERT_TRUE(a.isOk());
  auto f = fs_->open(a->ino, O_RDONLY);
  ASSERT_TRUE(f.isOk());
  std::vector<std::byte> buf(16);
  ASSERT_TRUE(fs_->read(**f, 0, buf).isOk());
  nlohmann::json s = stats();
  EXPECT_EQ(s["prefetch"]["threads"], 0);
  EXPECT_EQ(s["prefetch"]["prefetched"], 0);
  ASSERT_TRUE(s["epochs"].is_array());
  ASSERT_EQ(s["epochs"].size(), 1u);
  EXPECT_EQ(s["epochs"][0]["epoch"], 1);
  EXPECT_EQ(s["epochs"][0]["reads"], 1);
  EXPECT_EQ(s["epochs"][0]["hits"], 0);
  EXPECT_EQ(s["epochs"][0]["miss_bytes"], 3);
  EXPECT_EQ(s["epochs"][0]["origin_bytes"], 3);
  EXPECT_EQ(s["policy"]["epoch"], 1);
}

// Listing-driven prefetch (policy.prefetch_listed): the first open in a directory makes its
// other files prefetch candidates; other directories are left alone.
TEST_F(FileSystemPlanTest, FirstOpenInADirectoryPrefetchesItsFiles) {
  cache_->startPrefetch(1);
  auto prefetched = [&] { return stats()["prefetch"]["prefetched"].get<uint64_t>(); };
  auto cls = fs_->lookup(kRootIno, "cls");
  ASSERT_TRUE(cls.isOk());
  auto a = fs_->lookup(cls->ino, "a.jpg");
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(fs_->open(a->ino, O_RDONLY).isOk());
  for (int i = 0; i < 500 && prefetched() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  nlohmann::json j = stats();
  EXPECT_EQ(j["prefetch"]["discovered_files"], 2) << j.dump();
  EXPECT_EQ(j["prefetch"]["discovered_blocks"], 5) << j.dump();
  EXPECT_EQ(j["prefetch"]["prefetched"], 5) << "cls/a.jpg and the 4 blocks of cls/b c.jpg";
  // The other file's bytes now come from the cache.
  auto b = fs_->lookup(cls->ino, "b c.jpg");
  ASSERT_TRUE(b.isOk());
  auto fb = fs_->open(b->ino, O_RDONLY);
  ASSERT_TRUE(fb.isOk());
  std::string buf(200000, '\0');
  auto n = fs_->read(**fb, 0, std::as_writable_bytes(std::span(buf)));
  ASSERT_TRUE(n.isOk());
  EXPECT_EQ(*n, 200000u);
  EXPECT_EQ(buf, std::string(200000, 'x'));
  j = stats();
  EXPECT_EQ(j["cache"]["misses"], 0) << j.dump();
  EXPECT_EQ(j["prefetch"]["discovered_files"], 2) << "one listing per directory";
}

TEST_F(FileSystemPlanTest, ListingDrivenPrefetchCanBeTurnedOff) {
  stop();
  opts_.policy.prefetchListed = false;
  start("epoch");
  cache_->startPrefetch(1);
  auto cls = fs_->lookup(kRootIno, "cls");
  ASSERT_TRUE(cls.isOk());
  auto a = fs_->lookup(cls->ino, "a.jpg");
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(fs_->open(a->ino, O_RDONLY).isOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  nlohmann::json j = stats();
  EXPECT_EQ(j["prefetch"]["discovered_files"], 0) << j.dump();
  EXPECT_EQ(j["prefetch"]["prefetched"], 0) << j.dump();
}

}  // namespace
}  // namespace epochfs::fs
