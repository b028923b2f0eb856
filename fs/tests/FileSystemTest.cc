// FileSystem over a MemoryOrigin and a real BlockCache in a temp dir: no FUSE mount here (the
// mount itself is covered by test/integration).
#include "fs/ControlIoctl.h"
#include "fs/FileSystem.h"

#include <fcntl.h>

#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fs/ControlFiles.h"
#include "fs/tests/FsStackFixture.h"

namespace epochfs::fs {
namespace {

class FileSystemTest : public ::testing::Test, protected FsStack {
 protected:
  void SetUp() override {
    useMemoryOrigin();
    mem_->put("cls/a.jpg", "hello");
    mem_->put("cls/b c.jpg", std::string(200000, 'x'));
    mem_->put("top.txt", "top");
    opts_.cache.blockSizeBytes = 64 * config::kKiB;
    openCache("lru");
    openFileSystem();
  }

  std::string readAll(uint64_t ino) {
    auto f = fs_->open(ino, O_RDONLY);
    EXPECT_TRUE(f.isOk()) << f.status().toString();
    if (!f.isOk()) return "";
    std::string out;
    std::vector<std::byte> buf(4096);
    for (uint64_t off = 0;; off += buf.size()) {
      auto n = fs_->read(**f, off, buf);
      EXPECT_TRUE(n.isOk());
      if (!n.isOk() || *n == 0) break;
      out.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    return out;
  }
};

TEST_F(FileSystemTest, LookupAndReadThroughCache) {
  auto cls = fs_->lookup(kRootIno, "cls");
  ASSERT_TRUE(cls.isOk());
  EXPECT_TRUE(cls->isDir);
  auto b = fs_->lookup(cls->ino, "b c.jpg");
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->size, 200000u);
  EXPECT_EQ(readAll(b->ino), std::string(200000, 'x'));
  uint64_t originBytes = origin_->counters().bytes.load();
  EXPECT_EQ(readAll(b->ino), std::string(200000, 'x'));
  EXPECT_EQ(origin_->counters().bytes.load(), originBytes) << "second read must be all hits";
}

TEST_F(FileSystemTest, AnImmutableNamespaceKeepsKernelEntriesForADay) {
  EXPECT_DOUBLE_EQ(fs_->attrTimeoutSec(), 60.0);  // metadata.ttl 0: fuse.attr_timeout as set
  opts_.metadata.ttlSec = config::kTtlImmutable;
  openFileSystem(config::kTtlImmutable);
  EXPECT_DOUBLE_EQ(fs_->attrTimeoutSec(), FileSystem::kImmutableAttrTimeoutSec);
  opts_.fuse.attrTimeoutSec = 0;  // no kernel caching stays none
  openFileSystem(config::kTtlImmutable);
  EXPECT_DOUBLE_EQ(fs_->attrTimeoutSec(), 0.0);
}

TEST_F(FileSystemTest, MissingNameIsNotFound) {
  auto r = fs_->lookup(kRootIno, "nope");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(FileSystemTest, WritesAreReadOnly) {
  auto top = fs_->lookup(kRootIno, "top.txt");
  ASSERT_TRUE(top.isOk());
  for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC}) {
    auto f = fs_->open(top->ino, flags);
    ASSERT_FALSE(f.isOk());
    EXPECT_EQ(f.status().code(), Code::kReadOnly);
  }
}

TEST_F(FileSystemTest, ChangedFileIsReadAtItsNewVersionAfterOpen) {
  auto top = fs_->lookup(kRootIno, "top.txt");
  ASSERT_TRUE(top.isOk());
  EXPECT_EQ(readAll(top->ino), "top");
  mem_->put("top.txt", "TOP");
  EXPECT_EQ(readAll(top->ino), "TOP");
}

TEST_F(FileSystemTest, RootListingHidesControlDirButLookupFindsIt) {
  auto d = fs_->opendir(kRootIno);
  ASSERT_TRUE(d.isOk());
  std::vector<std::string> names;
  for (const auto& e : (*d)->entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cls", "top.txt"}));
  auto ctl = fs_->lookup(kRootIno, ".epochfs");
  ASSERT_TRUE(ctl.isOk());
  EXPECT_TRUE(ctl->isDir);
  auto stats = fs_->lookup(ctl->ino, "stats");
  ASSERT_TRUE(stats.isOk());
  auto json = nlohmann::json::parse(readAll(stats->ino));
  EXPECT_EQ(json["cache"]["limit_bytes"], 64 * config::kMiB);
  EXPECT_EQ(json["cache"]["block_size"], opts_.cache.blockSizeBytes);
  EXPECT_TRUE(json["origin"].contains("requests"));
}

TEST_F(FileSystemTest, RefreshIsAnIoctlAndControlFilesAreReadOnly) {
  auto ctl = fs_->lookup(kRootIno, ".epochfs");
  ASSERT_TRUE(ctl.isOk());
  auto refresh = fs_->lookup(ctl->ino, "refresh");
  ASSERT_TRUE(refresh.isOk());
  EXPECT_EQ(refresh->perm, 0444u);
  EXPECT_EQ(fs_->open(refresh->ino, O_WRONLY).status().code(), Code::kReadOnly);
  EXPECT_EQ(fs_->open(kStatsIno, O_WRONLY).status().code(), Code::kReadOnly);
  auto f = fs_->open(refresh->ino, O_RDONLY);
  ASSERT_TRUE(f.isOk());
  // (A passthrough namespace has nothing to re-list; test_namespace.py refreshes a snapshot.)
  auto r = fs_->ioctl(refresh->ino, **f, kIocRefresh, {});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(fs_->ioctl(refresh->ino, **f, kIocPlanCommit, {}).status().code(),
            Code::kNotSupported);
}

TEST_F(FileSystemTest, ReaddirplusCountsLookups) {
  auto d = fs_->opendir(kRootIno);
  ASSERT_TRUE(d.isOk());
  NodeAttr a = fs_->lookupEntry(**d, 0);
  EXPECT_TRUE(a.isDir);
  auto again = fs_->lookup(kRootIno, "cls");
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->ino, a.ino);
  fs_->forget(a.ino, 2);
  EXPECT_FALSE(fs_->getattr(a.ino).isOk());
}

class RecordingNotifier : public KernelNotifier {
 public:
  void invalidateEntry(uint64_t, const std::string&) override {}
  void invalidateInode(uint64_t ino) override { inodes.push_back(ino); }
  std::vector<uint64_t> inodes;
};

// A file grown at the origin: open() takes the new version and tells the kernel to drop the
// size it caches, or a read right after open() stops at the old length.
TEST_F(FileSystemTest, OpenOfAChangedFileInvalidatesTheKernelsAttributes) {
  RecordingNotifier notifier;
  fs_->setKernelNotifier(&notifier);
  auto top = fs_->lookup(kRootIno, "top.txt");
  ASSERT_TRUE(top.isOk());
  EXPECT_EQ(readAll(top->ino), "top");
  EXPECT_TRUE(notifier.inodes.empty()) << "unchanged: the kernel's attributes are right";
  mem_->put("top.txt", "top, and then some");
  auto f = fs_->open(top->ino, O_RDONLY);
  ASSERT_TRUE(f.isOk());
  EXPECT_FALSE((*f)->keepCache);
  EXPECT_EQ(notifier.inodes, std::vector<uint64_t>{top->ino});
  auto attr = fs_->getattr(top->ino);
  ASSERT_TRUE(attr.isOk());
  EXPECT_EQ(attr->size, 18u);
  EXPECT_EQ(readAll(top->ino), "top, and then some");
  EXPECT_EQ(notifier.inodes.size(), 1u) << "the second open found it unchanged";
  fs_->setKernelNotifier(nullptr);
}

// An immutable namespace answers opens from the inode; a read that finds the file changed at
// the origin revalidates it, and the next open takes the new version and drops the kernel's
// pages and attributes; never the READ itself (the kernel holds the page it fills locked
// until the reply, so invalidating the inode's pages then would deadlock).
TEST_F(FileSystemTest, AnImmutableNamespaceTakesAVersionAReadFoundAtTheNextOpen) {
  opts_.metadata.ttlSec = config::kTtlImmutable;
  openFileSystem(config::kTtlImmutable);
  RecordingNotifier notifier;
  fs_->setKernelNotifier(&notifier);
  auto top = fs_->lookup(kRootIno, "top.txt");
  ASSERT_TRUE(top.isOk());
  auto f = fs_->open(top->ino, O_RDONLY);
  ASSERT_TRUE(f.isOk());
  mem_->put("top.txt", "top, and then some");
  auto again = fs_->open(top->ino, O_RDONLY);  // the snapshot still says "top"
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ((*again)->file.size, 3u);
  fs_->release(**again);
  std::vector<std::byte> buf(64);
  auto n = fs_->read(**f, 0, buf);
  ASSERT_FALSE(n.isOk());
  EXPECT_EQ(n.status().code(), Code::kStale);
  EXPECT_TRUE(notifier.inodes.empty()) << "invalidated from within a READ";
  fs_->release(**f);
  auto g = fs_->open(top->ino, O_RDONLY);
  ASSERT_TRUE(g.isOk());
  EXPECT_FALSE((*g)->keepCache);
  EXPECT_EQ((*g)->file.size, 18u);
  EXPECT_EQ(notifier.inodes, std::vector<uint64_t>{top->ino});
  fs_->release(**g);
  EXPECT_EQ(readAll(top->ino), "top, and then some");
  EXPECT_EQ(notifier.inodes.size(), 1u) << "later opens take the inode's version";
  fs_->setKernelNotifier(nullptr);
}

// An origin entry named .epochfs never shadows the control directory, listed or looked up.
TEST_F(FileSystemTest, OriginEntryNamedLikeTheControlDirIsNeverListed) {
  for (const char* key : {".epochfs/stats", ".epochfs"}) {
    SCOPED_TRACE(key);
    mem_->remove(".epochfs/stats");
    mem_->remove(".epochfs");
    mem_->put(key, "dataset bytes");
    auto d = fs_->opendir(kRootIno);
    ASSERT_TRUE(d.isOk());
    std::vector<std::string> names;
    for (size_t i = 0; i < (*d)->entries.size(); ++i) {
      names.push_back((*d)->entries[i].name);
      fs_->lookupEntry(**d, i);  // what readdirplus (ls -la) does
    }
    EXPECT_EQ(names, (std::vector<std::string>{"cls", "top.txt"}));
    auto ctl = fs_->lookup(kRootIno, ".epochfs");
    ASSERT_TRUE(ctl.isOk());
    EXPECT_EQ(ctl->ino, kControlDirIno);
    auto stats = fs_->lookup(ctl->ino, "stats");
    ASSERT_TRUE(stats.isOk());
    EXPECT_TRUE(nlohmann::json::parse(readAll(stats->ino)).contains("cache"));
  }
}

TEST_F(FileSystemTest, StatfsReportsFreeInodes) {
  ASSERT_TRUE(fs_->lookup(kRootIno, "top.txt").isOk());
  const FsStat s = fs_->statfs();
  EXPECT_EQ(s.freeFiles, FileSystem::kFreeInodes);
  EXPECT_EQ(s.files - s.freeFiles, 2u) << "in use: the root and top.txt";
  EXPECT_LE(s.files, 0xffffffffULL) << "must fit the 32-bit statfs(2)";
  EXPECT_EQ(s.totalBlocks * s.blockSize, 64 * config::kMiB);
}

}  // namespace
}  // namespace epochfs::fs
