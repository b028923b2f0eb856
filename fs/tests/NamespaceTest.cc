#include "fs/Namespace.h"


#include <gtest/gtest.h>

#include "fs/tests/FsStackFixture.h"

namespace epochfs::fs {
namespace {

class NamespaceTest : public ::testing::Test, protected FsStack {
 protected:
  void SetUp() override {
    useMemoryOrigin();
    mem_->put("a/x.jpg", "x");
    mem_->put("a/y.jpg", "yy");
    mem_->put("b/c/z.jpg", "zzz");
    mem_->put("top", "t");
    openCache();
  }
  std::unique_ptr<Namespace> open(double ttl, const std::string& source = "mem") {
    return openNamespace(ttl, source);
  }
  uint64_t requests() const { return origin_->counters().requests.load(); }
};

std::vector<std::string> names(const std::vector<origin::DirEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}

TEST_F(NamespaceTest, ImmutableSnapshotServesWithoutRequestsAndSurvivesReopen) {
  auto ns = open(-1);
  ASSERT_TRUE(ns);
  EXPECT_GT(origin_->counters().listRequests.load(), 0u);
  uint64_t before = requests();
  auto st = ns->stat("b/c/z.jpg");
  ASSERT_TRUE(st.isOk());
  EXPECT_EQ(st->size, 3u);
  EXPECT_EQ(ns->stat("a/nope").status().code(), Code::kNotFound);
  EXPECT_EQ(ns->stat("nodir/x").status().code(), Code::kNotFound);
  EXPECT_EQ(names(*ns->list("a")), (std::vector<std::string>{"x.jpg", "y.jpg"}));
  EXPECT_EQ(requests(), before) << "a snapshot answers without the origin";
  EXPECT_FALSE(ns->stats().loadedFromSnapshot);

  ns.reset();
  openCache();  // a remount: new cache object on the same dir
  before = requests();
  ns = open(-1);
  ASSERT_TRUE(ns);
  EXPECT_TRUE(ns->stats().loadedFromSnapshot);
  EXPECT_EQ(names(*ns->list("")), (std::vector<std::string>{"a", "b", "top"}));
  EXPECT_EQ(ns->stat("a/y.jpg")->size, 2u);
  EXPECT_EQ(requests(), before) << "a remount lists nothing";
}

TEST_F(NamespaceTest, SnapshotOfAnotherSourceIsIgnored) {
  ASSERT_TRUE(open(-1, "one"));
  openCache();
  uint64_t lists = origin_->counters().listRequests.load();
  auto ns = open(-1, "two");
  ASSERT_TRUE(ns);
  EXPECT_FALSE(ns->stats().loadedFromSnapshot);
  EXPECT_GT(origin_->counters().listRequests.load(), lists);
}

TEST_F(NamespaceTest, RefreshSeesNewFilesAndPersistsThem) {
  auto ns = open(-1);
  ASSERT_TRUE(ns);
  mem_->put("a/new.jpg", "n");
  EXPECT_EQ(ns->stat("a/new.jpg").status().code(), Code::kNotFound);
  ASSERT_TRUE(ns->refresh().isOk());
  EXPECT_TRUE(ns->stat("a/new.jpg").isOk());
  ns.reset();
  openCache();
  ns = open(-1);
  EXPECT_TRUE(ns->stat("a/new.jpg").isOk());
}

TEST_F(NamespaceTest, InvalidateUpdatesOneEntry) {
  auto ns = open(-1);
  ASSERT_TRUE(ns);
  std::string oldEtag = ns->stat("top")->etag;
  mem_->put("top", "changed");
  EXPECT_EQ(ns->stat("top")->etag, oldEtag);
  ASSERT_TRUE(ns->invalidate("top").isOk());
  EXPECT_NE(ns->stat("top")->etag, oldEtag);
  EXPECT_EQ(ns->stat("top")->size, 7u);
  mem_->remove("a/x.jpg");
  ASSERT_TRUE(ns->invalidate("a/x.jpg").isOk());
  EXPECT_EQ(ns->stat("a/x.jpg").status().code(), Code::kNotFound);
}

TEST_F(NamespaceTest, SnapshotCountsAndDirectoryChecksComeFromTheIndex) {
  auto ns = open(-1);
  ASSERT_TRUE(ns);
  // a, a/x.jpg, a/y.jpg, b, b/c, b/c/z.jpg, top; directories: the root, a, b, b/c.
  EXPECT_EQ(ns->stats().entries, 7u);
  EXPECT_EQ(ns->stats().directories, 4u);
  EXPECT_EQ(ns->stat("b/c")->type, origin::EntryType::kDirectory);
  EXPECT_EQ(names(*ns->list("b")), (std::vector<std::string>{"c"}));
  EXPECT_EQ(ns->list("top").status().code(), Code::kNotFound) << "a file is not listed";
  EXPECT_EQ(ns->list("nodir").status().code(), Code::kNotFound);
  EXPECT_EQ(ns->stat("a/x.jpg/deeper").status().code(), Code::kNotFound);
  // A new file in a known directory, then a removed one: the counts follow and persist.
  mem_->put("b/c/new.jpg", "nn");
  ASSERT_TRUE(ns->invalidate("b/c/new.jpg").isOk());
  mem_->remove("top");
  ASSERT_TRUE(ns->invalidate("top").isOk());
  ASSERT_TRUE(ns->invalidate("top").isOk()) << "gone twice is still gone";
  ns.reset();
  openCache();
  uint64_t before = requests();
  ns = open(-1);
  ASSERT_TRUE(ns);
  EXPECT_TRUE(ns->stats().loadedFromSnapshot);
  EXPECT_EQ(ns->stats().entries, 7u);
  EXPECT_EQ(names(*ns->list("b/c")), (std::vector<std::string>{"new.jpg", "z.jpg"}));
  EXPECT_EQ(names(*ns->list("")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(requests(), before);
  // A file below a directory the snapshot does not have is not made up.
  mem_->put("later/f.jpg", "f");
  EXPECT_EQ(ns->invalidate("later/f.jpg").code(), Code::kNotFound);
  EXPECT_EQ(ns->stat("later/f.jpg").status().code(), Code::kNotFound);
}

TEST_F(NamespaceTest, UnreadableSnapshotRecordsAreErrorsOrAReList) {
  auto ns = open(-1);
  ASSERT_TRUE(ns);
  // One entry's record damaged: its stat and its directory's list fail naming it.
  ASSERT_TRUE(
      cache_->namespaceStore().updateNamespace({{snapshotKey("a", "x.jpg"), "junk"}}).isOk());
  auto st = ns->stat("a/x.jpg");
  ASSERT_EQ(st.status().code(), Code::kCorrupt);
  EXPECT_NE(st.status().message().find("a/x.jpg"), std::string::npos) << st.status().toString();
  EXPECT_NE(st.status().message().find("epochfs refresh"), std::string::npos);
  EXPECT_EQ(ns->list("a").status().code(), Code::kCorrupt);
  EXPECT_TRUE(ns->stat("a/y.jpg").isOk()) << "the other records are fine";
  ASSERT_TRUE(ns->refresh().isOk());
  EXPECT_EQ(ns->stat("a/x.jpg")->size, 1u) << "a refresh rewrites the snapshot";

  // A damaged meta record (or one of an older format): the next open lists the origin again.
  ASSERT_TRUE(cache_->namespaceStore().updateNamespace({{"m", "epochfs-namespace-v1"}}).isOk());
  ns.reset();
  openCache();
  uint64_t lists = origin_->counters().listRequests.load();
  ns = open(-1);
  ASSERT_TRUE(ns);
  EXPECT_FALSE(ns->stats().loadedFromSnapshot);
  EXPECT_GT(origin_->counters().listRequests.load(), lists);
  EXPECT_EQ(ns->stat("a/x.jpg")->size, 1u);
}

// A snapshot written by the epochfs before modes and owners were kept (format v2, complete
// and of this source) is not read: its entries would lack them.
TEST_F(NamespaceTest, SnapshotOfFormatV2IsListedAgain) {
  ASSERT_TRUE(open(-1));
  auto le = [](std::string& s, uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto str = [&](std::string& s, std::string_view v) {
    le(s, v.size());
    s.append(v);
  };
  std::string meta;
  str(meta, "epochfs-namespace-v2");
  str(meta, "mem");
  le(meta, 1);  // listed at
  le(meta, 4);  // directories
  le(meta, 6);  // entries
  ASSERT_TRUE(cache_->namespaceStore().updateNamespace({{"m", meta}}).isOk());
  openCache();
  uint64_t lists = origin_->counters().listRequests.load();
  auto ns = open(-1);
  ASSERT_TRUE(ns);
  EXPECT_FALSE(ns->stats().loadedFromSnapshot);
  EXPECT_GT(origin_->counters().listRequests.load(), lists);
  EXPECT_EQ(ns->stat("b/c/z.jpg")->size, 3u);
}

TEST_F(NamespaceTest, PassthroughAsksTheOriginEveryTime) {
  auto ns = open(0);
  ASSERT_TRUE(ns);
  uint64_t before = requests();
  ASSERT_TRUE(ns->stat("top").isOk());
  ASSERT_TRUE(ns->stat("top").isOk());
  EXPECT_EQ(requests(), before + 2);
  mem_->put("late", "l");
  EXPECT_TRUE(ns->stat("late").isOk());
}

TEST_F(NamespaceTest, TtlReusesListingsUntilTheyExpire) {
  auto ns = open(0.2);
  ASSERT_TRUE(ns);
  ASSERT_TRUE(ns->stat("a/x.jpg").isOk());
  uint64_t before = requests();
  ASSERT_TRUE(ns->stat("a/y.jpg").isOk());
  EXPECT_EQ(requests(), before) << "the listing of 'a' is reused";
  mem_->put("a/late.jpg", "l");
  nsNow_ += std::chrono::milliseconds(199);
  EXPECT_FALSE(ns->stat("a/late.jpg").isOk()) << "the listing is reused until it expires";
  nsNow_ += std::chrono::milliseconds(2);
  EXPECT_TRUE(ns->stat("a/late.jpg").isOk()) << "an expired listing is fetched again";
}

}  // namespace
}  // namespace epochfs::fs
