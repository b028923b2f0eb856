// .epochfs/plan through FileSystem (no FUSE mount): lookup, listing, open modes, the plan
// ioctls (append, commit, abort, last error) as the kernel hands them over, and the counters
// in the stats JSON.
#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <span>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fs/ControlFiles.h"
#include "fs/ControlIoctl.h"
#include "fs/FileSystem.h"
#include "fs/tests/FsStackFixture.h"

namespace epochfs::fs {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kBlock = 64 * config::kKiB;
constexpr uint64_t kPid = 4242;  // the "opening process" of the plan file

class FileSystemPlanTest : public ::testing::Test, protected FsStack {
 protected:
  // Builds origin, cache (with policy `policy`), namespace and file system (stop() closes them).
  void start(const std::string& policy) {
    useMemoryOrigin();
    mem_->put("cls/a.jpg", "hello");                      // 1 block
    mem_->put("cls/b c.jpg", std::string(200000, 'x'));   // 4 blocks
    mem_->put("top.txt", "top");                          // 1 block
    mem_->put("sub/dir/deep.bin", std::string(10, 'd'));  // 1 block
    opts_.cache.blockSizeBytes = kBlock;
    openCache(policy);
    openFileSystem();
  }
  void SetUp() override { start("epoch"); }

  // Opens .epochfs/plan read-only as process `caller`, found by lookup as the kernel would.
  std::unique_ptr<OpenFile> openPlan(uint64_t caller = kPid) {
    auto ctl = fs_->lookup(kRootIno, std::string(kControlDirName));
    EXPECT_TRUE(ctl.isOk());
    auto plan = fs_->lookup(ctl->ino, std::string(kPlanName));
    EXPECT_TRUE(plan.isOk());
    auto f = fs_->open(plan->ino, O_RDONLY, caller);
    EXPECT_TRUE(f.isOk()) << f.status().toString();
    return f.isOk() ? std::move(*f) : nullptr;
  }
  // kIocPlanAppend with `text` (at most kPlanChunkBytes), as the kernel copies it in.
  Status append(OpenFile& f, std::string_view text, uint32_t flags = 0) {
    auto chunk = std::make_unique<PlanChunk>();
    chunk->length = static_cast<uint32_t>(text.size());
    chunk->flags = flags;
    std::memcpy(chunk->data, text.data(), text.size());
    auto r = fs_->ioctl(kPlanIno, f, kIocPlanAppend,
                        std::string_view(reinterpret_cast<const char*>(chunk.get()),
                                         sizeof(PlanChunk)));
    if (r.isOk()) {
      EXPECT_TRUE(r->empty()) << "append has no output";
    }
    return r.status();
  }
  Result<PlanResult> commit(OpenFile& f) {
    auto r = fs_->ioctl(kPlanIno, f, kIocPlanCommit, {});
    if (!r.isOk()) return r.status();
    EXPECT_EQ(r->size(), sizeof(PlanResult));
    PlanResult out;
    std::memcpy(&out, r->data(), sizeof out);
    return out;
  }
  std::string lastError(OpenFile& f) {
    auto r = fs_->ioctl(kPlanIno, f, kIocLastError, {});
    EXPECT_TRUE(r.isOk());
    EXPECT_EQ(r->size(), sizeof(ControlError));
    return std::string(r->c_str());  // NUL-terminated
  }
  nlohmann::json stats() { return nlohmann::json::parse(fs_->statsJson()); }
};

TEST_F(FileSystemPlanTest, PlanIsAReadOnlyFileOfTheControlDir) {
  auto ctl = fs_->lookup(kRootIno, ".epochfs");
  ASSERT_TRUE(ctl.isOk());
  auto plan = fs_->lookup(ctl->ino, "plan");
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_EQ(plan->ino, kPlanIno);
  EXPECT_FALSE(plan->isDir);
  EXPECT_EQ(plan->perm, 0444u);
  auto attr = fs_->getattr(kPlanIno);
  ASSERT_TRUE(attr.isOk());
  EXPECT_EQ(attr->perm, 0444u);
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

TEST_F(FileSystemPlanTest, WriteOpensAreRefusedAndReadsAreEmpty) {
  for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC}) {
    auto f = fs_->open(kPlanIno, flags, kPid);
    ASSERT_FALSE(f.isOk()) << flags;
    EXPECT_EQ(f.status().code(), Code::kReadOnly) << flags;
  }
  auto f = openPlan();
  ASSERT_TRUE(f);
  std::vector<std::byte> buf(16);
  auto n = fs_->read(*f, 0, buf);
  ASSERT_TRUE(n.isOk());
  EXPECT_EQ(*n, 0u);
}

TEST_F(FileSystemPlanTest, AppendAndCommitPublishesKnownFiles) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  // Chunks split lines anywhere.
  Status st = append(*f, "# my epoch\ncls/b c.jpg\ntop.t");
  ASSERT_TRUE(st.isOk()) << st.toString();
  st = append(*f, "xt\nmissing.jpg\ncls\nsub/dir\r\ncls/a.jpg\nsub/dir/deep.bin");
  ASSERT_TRUE(st.isOk()) << st.toString();
  // Nothing is published before the commit.
  EXPECT_EQ(stats()["plans"]["published"], 0);

  auto r = commit(*f);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->paths, 7u);
  EXPECT_EQ(r->unknownPaths, 3u) << "missing.jpg, and the directories cls, sub/dir";
  EXPECT_EQ(r->files, 4u);
  EXPECT_EQ(r->blocks, 4u + 1 + 1 + 1);
  EXPECT_EQ(r->ignored, 0u);
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["paths"], 7);
  EXPECT_EQ(s["plans"]["unknown_paths"], 3);
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
  EXPECT_EQ(lastError(*f), "");
}

// Lines naming byte ranges of a file (records inside it) beside whole files: the blocks that
// hold each range, in order; a range past the file's end is skipped as unknown.
TEST_F(FileSystemPlanTest, RangesOfAFilePlanTheBlocksHoldingThem) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  // "cls/b c.jpg" is 200000 bytes: blocks of 64 KiB at 0, 65536, 131072, 196608.
  Status st = append(*f,
                     "cls/a.jpg\n"
                     "cls/b c.jpg\t70000\t60000\n"   // block 1
                     "cls/b c.jpg\t130000\t10\n"     // block 1 again, right after: once
                     "cls/b c.jpg\t0\t1\n"           // block 0
                     "cls/b c.jpg\t190000\t99999\n"  // blocks 2 and 3, cut at the end
                     "cls/b c.jpg\t200000\t5\n"      // past the end
                     "missing.bin\t0\t5\n"
                     "top.txt\n");
  ASSERT_TRUE(st.isOk()) << st.toString();
  auto r = commit(*f);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->paths, 8u);
  EXPECT_EQ(r->unknownPaths, 2u) << "the range past the end, missing.bin";
  EXPECT_EQ(r->files, 3u) << "a.jpg, b c.jpg (once for its ranges), top.txt";
  EXPECT_EQ(r->blocks, 1u + 1 + 1 + 2 + 1);
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["planned_blocks"], 6);
  EXPECT_EQ(s["policy"]["plan_remaining_blocks"], 6);
}

// A plan of shards read by two streams at once alternates between the files line by line:
// each file is counted once, and every range planned in the order given.
TEST_F(FileSystemPlanTest, RangesAlternatingBetweenFilesCountEachFileOnce) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(append(*f,
                     "cls/b c.jpg\t0\t65536\n"
                     "sub/dir/deep.bin\t0\t10\n"
                     "cls/b c.jpg\t65536\t65536\n"
                     "cls/b c.jpg\t131072\t65536\n")
                  .isOk());
  auto r = commit(*f);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->files, 2u);
  EXPECT_EQ(r->blocks, 4u);
  EXPECT_EQ(r->unknownPaths, 0u);
}

TEST_F(FileSystemPlanTest, AMalformedRangeIsRefusedNamingTheLine) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  Status st = append(*f, "cls/a.jpg\ncls/b c.jpg\t12\tten\n");
  ASSERT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("line 2"));
  EXPECT_THAT(st.message(), HasSubstr("length 'ten' is not a decimal number"));
  EXPECT_FALSE(commit(*f).isOk());
}

TEST_F(FileSystemPlanTest, EachCommitIsOnePlanAndAnEmptyOnePublishesNothing) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(append(*f, "cls/a.jpg\ntop.txt\n").isOk());
  ASSERT_TRUE(commit(*f).isOk());
  auto empty = commit(*f);  // nothing appended since
  ASSERT_TRUE(empty.isOk());
  EXPECT_EQ(empty->paths, 0u);
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["planned_files"], 2);
  EXPECT_EQ(s["plans"]["planned_blocks"], 2);

  // The same handle's next plan, and another process's plan.
  ASSERT_TRUE(append(*f, "cls/a.jpg\n").isOk());
  ASSERT_TRUE(commit(*f).isOk());
  auto g = openPlan(kPid + 1);
  ASSERT_TRUE(g);
  ASSERT_TRUE(append(*g, "cls/b c.jpg\n").isOk());
  ASSERT_TRUE(commit(*g).isOk());
  s = stats();
  EXPECT_EQ(s["plans"]["published"], 3);
  EXPECT_EQ(s["plans"]["paths"], 4);
}

TEST_F(FileSystemPlanTest, MalformedAppendIsInvalidNamingTheLineAndTheCommitFails) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(append(*f, "cls/a.jpg\n").isOk());
  Status st = append(*f, "top.txt\n../etc/passwd\n");
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("line 3"));
  EXPECT_THAT(st.message(), HasSubstr("'..'"));
  EXPECT_EQ(lastError(*f), st.message());
  EXPECT_EQ(lastError(*f), st.message()) << "asking does not clear it";
  // Later appends fail too: the plan is broken for good.
  EXPECT_EQ(append(*f, "cls/b c.jpg\n").code(), Code::kInvalid);

  auto r = commit(*f);
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_THAT(lastError(*f), HasSubstr("line 3"));
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["rejected"], 1) << "one plan, counted once";
  EXPECT_EQ(s["plans"]["published"], 0);
  EXPECT_EQ(s["plans"]["planned_files"], 0);
  EXPECT_EQ(s["policy"]["plan_active"], false);
  // The failed commit started the next plan: it works, and clears the error.
  ASSERT_TRUE(append(*f, "cls/a.jpg\n").isOk());
  EXPECT_EQ(lastError(*f), "");
  ASSERT_TRUE(commit(*f).isOk());
  s = stats();
  EXPECT_EQ(s["plans"]["published"], 1);
  EXPECT_EQ(s["plans"]["rejected"], 1);
}

TEST_F(FileSystemPlanTest, MalformedLastLineFailsAtCommit) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  // The last line has no "\n": only the commit sees it whole.
  ASSERT_TRUE(append(*f, "cls/a.jpg\n/abs/top.txt").isOk());
  auto r = commit(*f);
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_THAT(r.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(r.status().message(), HasSubstr("absolute"));
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["rejected"], 1);
  EXPECT_EQ(s["plans"]["published"], 0);
}

TEST_F(FileSystemPlanTest, AbortAndCloseWithoutCommitDiscard) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(append(*f, "cls/a.jpg\n../bad\n").code() == Code::kInvalid);
  ASSERT_TRUE(fs_->ioctl(kPlanIno, *f, kIocPlanAbort, {}).isOk());
  ASSERT_TRUE(append(*f, "top.txt\n").isOk()) << "an abort clears a broken plan";
  ASSERT_TRUE(fs_->ioctl(kPlanIno, *f, kIocPlanAbort, {}).isOk());
  auto r = commit(*f);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->paths, 0u) << "the aborted lines are gone";
  ASSERT_TRUE(append(*f, "cls/a.jpg\ncls/b c.jpg\n").isOk());
  fs_->release(*f);
  nlohmann::json s = stats();
  EXPECT_EQ(s["plans"]["published"], 0);
  EXPECT_EQ(s["plans"]["planned_files"], 0);
  EXPECT_EQ(s["plans"]["rejected"], 1);
}

// A plan flagged kPlanResumes continues the reader's epoch: the policy replaces the planned
// reads not yet made with it (Planned::resumePlan), instead of queueing a new plan epoch.
TEST_F(FileSystemPlanTest, AResumingPlanReplacesTheRestOfTheCurrentEpoch) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(append(*f, "cls/a.jpg\ntop.txt\nsub/dir/deep.bin\n").isOk());
  ASSERT_TRUE(commit(*f).isOk());
  ASSERT_TRUE(append(*f, "cls/a.jpg\n").isOk());  // the next epoch, planned ahead
  ASSERT_TRUE(commit(*f).isOk());
  EXPECT_EQ(stats()["policy"]["plan_remaining_blocks"], 4);
  // The reader reads the first file, then its job dies; the restarted job (another process)
  // resumes: the rest of the epoch is top.txt and deep.bin, flagged on an empty chunk too.
  auto a = fs_->lookup(kRootIno, "cls");
  ASSERT_TRUE(a.isOk());
  auto ai = fs_->lookup(a->ino, "a.jpg");
  ASSERT_TRUE(ai.isOk());
  auto af = fs_->open(ai->ino, O_RDONLY);
  ASSERT_TRUE(af.isOk());
  std::string buf(5, '\0');
  ASSERT_TRUE(fs_->read(**af, 0, std::as_writable_bytes(std::span<char>(buf))).isOk());
  EXPECT_EQ(stats()["policy"]["plan_remaining_blocks"], 3);
  auto g = openPlan(kPid + 1);
  ASSERT_TRUE(g);
  ASSERT_TRUE(append(*g, "top.txt\nsub/dir/deep.bin\n").isOk());
  ASSERT_TRUE(append(*g, "", kPlanResumes).isOk());
  auto r = commit(*g);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->files, 2u);
  const auto s = stats();
  EXPECT_EQ(s["policy"]["plan_remaining_blocks"], 2) << "the dead job's rest and its next "
                                                        "epoch gave way to the resumed rest";
  EXPECT_EQ(s["policy"]["active_plans"], 1);
  EXPECT_EQ(s["plans"]["discarded"], 1) << "the epoch planned ahead, unread";
  // Unknown flags are refused, naming them.
  EXPECT_EQ(append(*g, "top.txt\n", 6).code(), Code::kInvalid);
  EXPECT_THAT(lastError(*g), HasSubstr("unknown plan chunk flags 6"));
}

TEST_F(FileSystemPlanTest, BadArgumentsAndUnknownCommands) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  // A chunk claiming more bytes than it holds, or of the wrong size.
  auto chunk = std::make_unique<PlanChunk>();
  chunk->length = kPlanChunkBytes + 1;
  std::string_view bytes(reinterpret_cast<const char*>(chunk.get()), sizeof(PlanChunk));
  EXPECT_EQ(fs_->ioctl(kPlanIno, *f, kIocPlanAppend, bytes).status().code(), Code::kInvalid);
  EXPECT_THAT(lastError(*f), HasSubstr("length"));
  EXPECT_EQ(fs_->ioctl(kPlanIno, *f, kIocPlanAppend, bytes.substr(1)).status().code(),
            Code::kInvalid);
  // Unknown commands, and commands on the wrong file.
  EXPECT_EQ(fs_->ioctl(kPlanIno, *f, 0x5401 /* TCGETS */, {}).status().code(),
            Code::kNotSupported);
  EXPECT_EQ(fs_->ioctl(kPlanIno, *f, kIocRefresh, {}).status().code(), Code::kNotSupported);
  auto st = fs_->open(kStatsIno, O_RDONLY);
  ASSERT_TRUE(st.isOk());
  EXPECT_EQ(fs_->ioctl(kStatsIno, **st, kIocPlanCommit, {}).status().code(),
            Code::kNotSupported);
  EXPECT_EQ(fs_->ioctl(kStatsIno, **st, kIocLastError, {}).status().code(),
            Code::kNotSupported);
  EXPECT_EQ(stats()["plans"]["rejected"], 0) << "a bad chunk is not a rejected plan";
}

TEST_F(FileSystemPlanTest, APlanPastTheLimitIsRefusedAtTheAppendThatCrossesIt) {
  auto f = openPlan();
  ASSERT_TRUE(f);
  // Comment lines only, so that nothing is kept: kPlanChunkBytes per append, 16 lines each.
  std::string text;
  while (text.size() < kPlanChunkBytes) {
    std::string line = "#" + std::string(kPlanChunkBytes / 16 - 2, 'c') + "\n";
    text += line.substr(0, std::min(line.size(), kPlanChunkBytes - text.size()));
  }
  ASSERT_EQ(text.size(), kPlanChunkBytes);
  ASSERT_EQ(text.back(), '\n');
  const uint64_t fits = kMaxPlanBytes / kPlanChunkBytes;
  for (uint64_t i = 0; i < fits; ++i) {
    Status st = append(*f, text);
    ASSERT_TRUE(st.isOk()) << "append " << i << ": " << st.toString();
  }
  Status st = append(*f, text);  // crosses 1 GiB
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("plan larger than 1024 MiB"));
  EXPECT_EQ(commit(*f).status().code(), Code::kInvalid);
  EXPECT_EQ(stats()["plans"]["rejected"], 1);
}

TEST_F(FileSystemPlanTest, LruIgnoresPlans) {
  stop();
  start("lru");
  auto f = openPlan();
  ASSERT_TRUE(f);
  ASSERT_TRUE(append(*f, "cls/a.jpg\ncls/b c.jpg\nnope\n").isOk());
  auto r = commit(*f);
  ASSERT_TRUE(r.isOk()) << "a plan the policy cannot use is no error: " << r.status().toString();
  EXPECT_EQ(r->ignored, 1u);
  EXPECT_EQ(r->files, 2u);
  EXPECT_EQ(r->blocks, 0u);
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
  EXPECT_EQ(prefetched(), 0u) << "the directory is listed by the prefetcher, not by open";
  settle();
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
  settle();
  nlohmann::json j = stats();
  EXPECT_EQ(j["prefetch"]["discovered_files"], 0) << j.dump();
  EXPECT_EQ(j["prefetch"]["prefetched"], 0) << j.dump();
}

}  // namespace
}  // namespace epochfs::fs
