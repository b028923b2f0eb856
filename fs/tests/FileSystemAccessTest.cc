// The origin's permission bits and owners, from a directory origin through the Namespace (in
// each metadata.ttl mode, the persisted snapshot included) to the attributes FileSystem hands
// the kernel; and the defaults for an origin without any (MemoryOrigin, as S3).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "common/testing/TempDir.h"
#include "fs/ControlFiles.h"
#include "fs/ControlIoctl.h"
#include "fs/FileSystem.h"
#include "fs/tests/FsStackFixture.h"
#include "origin/posix/PosixOrigin.h"
#include "origin/testing/MemoryOrigin.h"

namespace epochfs::fs {
namespace {

class ChangeNotifier : public KernelNotifier {
 public:
  void invalidateEntry(uint64_t, const std::string&) override {}
  void invalidateInode(uint64_t ino) override { inodes.push_back(ino); }
  std::vector<uint64_t> inodes;
};

// A mount's pieces over `origin`, with metadata.ttl `ttl`.
class Mount : private FsStack {
 public:
  Mount(std::unique_ptr<origin::Origin> origin, const std::string& cacheDir, double ttl) {
    useOrigin(std::move(origin));
    opts_.origin.source = origin_->describe();
    opts_.cache.dir = cacheDir;
    openCache("lru");
    openFileSystem(ttl);
  }
  ~Mount() { fs_->setKernelNotifier(nullptr); }

  FileSystem& fs() { return *fs_; }
  Namespace& ns() { return *ns_; }
  // The attributes of `path` ("a/b"), looked up from the root.
  Result<NodeAttr> attrOf(const std::string& path) {
    uint64_t ino = kRootIno;
    Result<NodeAttr> attr = fs_->getattr(kRootIno);
    for (const auto& part : std::filesystem::path(path)) {
      attr = fs_->lookup(ino, part.string());
      if (!attr.isOk()) return attr;
      ino = attr->ino;
    }
    return attr;
  }
};

void expectAccess(Mount& m, const std::string& path, uint32_t perm, uint32_t uid, uint32_t gid) {
  SCOPED_TRACE(path.empty() ? "<root>" : path);
  Result<NodeAttr> a = m.attrOf(path);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->perm, perm);
  EXPECT_EQ(a->uid, uid);
  EXPECT_EQ(a->gid, gid);
}

class FileSystemAccessTest : public ::testing::TestWithParam<double> {
 protected:
  void SetUp() override {
    origin_.write("secret.bin", "only for its owner");
    origin_.write("shared/open.txt", "for everyone");
    ASSERT_EQ(::chmod((origin_ / "secret.bin").c_str(), 0600), 0);
    ASSERT_EQ(::chown((origin_ / "secret.bin").c_str(), 1001, 1002), 0);
    ASSERT_EQ(::chmod((origin_ / "shared").c_str(), 0750), 0);
    ASSERT_EQ(::chown((origin_ / "shared").c_str(), 0, 1003), 0);
    ASSERT_EQ(::chmod((origin_ / "shared/open.txt").c_str(), 0664), 0);
    ASSERT_EQ(::chmod(origin_.path().c_str(), 0711), 0);
  }
  std::unique_ptr<Mount> mount() {
    return std::make_unique<Mount>(std::make_unique<origin::PosixOrigin>(origin_.path()),
                                   cache_.path(), GetParam());
  }

  test::TempDir origin_;
  test::TempDir cache_;
};

TEST_P(FileSystemAccessTest, OriginModesAndOwnersReachTheKernelWithoutWriteBits) {
  auto m = mount();
  expectAccess(*m, "", 0511, 0, 0);
  expectAccess(*m, "secret.bin", 0400, 1001, 1002);
  expectAccess(*m, "shared", 0550, 0, 1003);
  expectAccess(*m, "shared/open.txt", 0444, 0, 0);

  // Readdir hands out the same attributes as lookup.
  auto dir = m->fs().opendir(kRootIno);
  ASSERT_TRUE(dir.isOk()) << dir.status().toString();
  ASSERT_EQ((*dir)->entries.size(), 2u);
  EXPECT_EQ((*dir)->entries[0].name, "secret.bin");
  NodeAttr peeked = m->fs().peekEntry(**dir, 0);
  EXPECT_EQ(peeked.perm, 0400u);
  EXPECT_EQ(peeked.uid, 1001u);
  NodeAttr listed = m->fs().lookupEntry(**dir, 0);
  EXPECT_EQ(listed.perm, 0400u);
  EXPECT_EQ(listed.gid, 1002u);
}

TEST_P(FileSystemAccessTest, RemountKeepsTheModes) {
  mount().reset();
  // Immutable: read from the persisted snapshot, not the origin; the others ask again.
  auto m = mount();
  expectAccess(*m, "", 0511, 0, 0);
  expectAccess(*m, "secret.bin", 0400, 1001, 1002);
  expectAccess(*m, "shared", 0550, 0, 1003);
}

TEST_P(FileSystemAccessTest, AChmodAtTheOriginShowsAfterRevalidation) {
  auto m = mount();
  ChangeNotifier notifier;
  m->fs().setKernelNotifier(&notifier);
  auto f = m->attrOf("secret.bin");
  ASSERT_TRUE(f.isOk());
  ASSERT_EQ(::chmod((origin_ / "secret.bin").c_str(), 0644), 0);
  if (GetParam() != 0) {  // passthrough: open asks the origin anyway
    ASSERT_TRUE(m->ns().refresh().isOk());
  }
  ASSERT_TRUE(m->fs().open(f->ino, O_RDONLY).isOk());
  // Same bytes, so the page cache could stay, but the kernel must drop its attributes.
  EXPECT_FALSE(notifier.inodes.empty());
  auto after = m->fs().getattr(f->ino);
  ASSERT_TRUE(after.isOk());
  EXPECT_EQ(after->perm, 0444u);
}

// `epochfs refresh` picks up a chmod and a chown of a known file and of the root, and tells
// the kernel to forget their attributes.
TEST_P(FileSystemAccessTest, RefreshPicksUpNewPermissionsOfKnownInodes) {
  auto m = mount();
  ChangeNotifier notifier;
  m->fs().setKernelNotifier(&notifier);
  auto f = m->attrOf("secret.bin");
  ASSERT_TRUE(f.isOk());
  ASSERT_EQ(::chmod(origin_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chown((origin_ / "secret.bin").c_str(), 2001, 2002), 0);
  OpenFile handle;
  ASSERT_TRUE(m->fs().ioctl(kRefreshIno, handle, kIocRefresh, {}).isOk());
  if (GetParam() != 0) {  // passthrough has nothing to refresh: it asks at every lookup
    EXPECT_EQ(m->fs().getattr(kRootIno)->perm, 0555u);
    EXPECT_EQ(m->fs().getattr(f->ino)->uid, 2001u);
    EXPECT_NE(std::find(notifier.inodes.begin(), notifier.inodes.end(), kRootIno),
              notifier.inodes.end());
    EXPECT_NE(std::find(notifier.inodes.begin(), notifier.inodes.end(), f->ino),
              notifier.inodes.end());
  }
  expectAccess(*m, "", 0555, 0, 0);
  expectAccess(*m, "secret.bin", 0400, 2001, 2002);
}

// The root is never looked up: its getattr is where a chmod of the origin root shows
// (passthrough), while a listing or snapshot holds it until a refresh.
TEST_P(FileSystemAccessTest, GetattrOfTheRootRevalidatesItInPassthrough) {
  auto m = mount();
  ASSERT_EQ(::chmod(origin_.path().c_str(), 0700), 0);
  auto root = m->fs().getattr(kRootIno);
  ASSERT_TRUE(root.isOk());
  EXPECT_EQ(root->perm, GetParam() == 0 ? 0500u : 0511u);
}

INSTANTIATE_TEST_SUITE_P(Ttl, FileSystemAccessTest, ::testing::Values(0.0, 3600.0, -1.0),
                         [](const ::testing::TestParamInfo<double>& p) {
                           return p.param == 0 ? std::string("Passthrough")
                                  : p.param < 0 ? std::string("Immutable")
                                                : std::string("Ttl");
                         });

// S3 (here its stand-in, MemoryOrigin) has no permissions: read-only for everyone, owned by
// whoever mounted.
TEST(FileSystemAccessDefaultsTest, OriginWithoutModesServesReadOnlyOwnedByTheMounter) {
  test::TempDir cache;
  auto mem = std::make_unique<origin::MemoryOrigin>();
  mem->put("d/f.txt", "x");
  Mount m(std::move(mem), cache.path(), -1);
  const auto uid = static_cast<uint32_t>(::getuid());
  const auto gid = static_cast<uint32_t>(::getgid());
  expectAccess(m, "", 0555, uid, gid);
  expectAccess(m, "d", 0555, uid, gid);
  expectAccess(m, "d/f.txt", 0444, uid, gid);
}

}  // namespace
}  // namespace epochfs::fs
