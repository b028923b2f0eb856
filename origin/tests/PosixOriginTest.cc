// origin/tests/PosixOriginTest.cc: the contract over PosixOrigin, plus what only a real
// filesystem has: links, special files, in-place rewrites, huge directories and offsets.
#include "origin/posix/PosixOrigin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "origin/tests/OriginContract.h"
#include "common/testing/AsUser.h"
#include "common/testing/TempDir.h"

namespace epochfs::origin {

using test::TempDir;

namespace {

class PosixEnv final : public OriginEnv {
 public:
  explicit PosixEnv(const OriginFiles& files) : origin_(dir_.path()) {
    for (const auto& [key, bytes] : files) dir_.write(key, bytes);
  }
  Origin& origin() override { return origin_; }
  // Copy + rename, as dataset tools do: a new inode even when size and mtime tick match.
  void rewrite(const std::string& key, const std::string& bytes) override {
    dir_.write(key + ".rewrite-tmp", bytes);
    ASSERT_EQ(std::rename((dir_ / (key + ".rewrite-tmp")).c_str(), (dir_ / key).c_str()), 0);
  }

 private:
  TempDir dir_;
  PosixOrigin origin_;
};

INSTANTIATE_TEST_SUITE_P(Posix, OriginContractTest,
                         ::testing::Values(OriginImpl{
                             "Posix",
                             [](const OriginFiles& files) -> std::unique_ptr<OriginEnv> {
                               return std::make_unique<PosixEnv>(files);
                             }}),
                         originImplName);

std::vector<std::string> namesOf(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) names.push_back(e.name);
  return names;
}

Result<std::string> readAll(Origin& o, const std::string& key, const std::string& etag) {
  std::vector<std::byte> buf(1 << 16);
  Result<size_t> n = o.read(key, etag, 0, buf);
  if (!n.isOk()) return n.status();
  return std::string(reinterpret_cast<const char*>(buf.data()), *n);
}

TEST(PosixOriginTest, RootTrailingSlashIsIgnored) {
  TempDir dir;
  PosixOrigin o(dir.path() + "//");
  EXPECT_EQ(o.root(), dir.path());
  EXPECT_EQ(o.describe(), "posix:" + dir.path());
  EXPECT_EQ(PosixOrigin("/").root(), "/");
}

TEST(PosixOriginTest, ListsAHundredThousandEntries) {
  TempDir dir;
  constexpr int kCount = 100'000;
  std::vector<std::string> names;
  names.reserve(kCount);
  std::mt19937 rng(7);
  for (int i = 0; i < kCount; ++i) {
    // Varying lengths, so bytewise order differs from numeric order.
    names.push_back("img_" + std::to_string(rng() % 1000) + "_" + std::to_string(i) + ".jpg");
  }
  int dfd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  for (const std::string& name : names) {
    int fd = ::openat(dfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << name;
    ::close(fd);
  }
  ::close(dfd);

  PosixOrigin o(dir.path());
  auto start = std::chrono::steady_clock::now();
  Result<std::vector<DirEntry>> entries = o.list("");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  std::printf("list() of %d entries: %lld ms\n", kCount, static_cast<long long>(ms.count()));

  std::sort(names.begin(), names.end());
  EXPECT_EQ(namesOf(*entries), names);
  for (const DirEntry& e : *entries) {
    ASSERT_EQ(e.info.type, EntryType::kFile) << e.name;
    ASSERT_EQ(e.info.size, 0u) << e.name;
  }
}

TEST(PosixOriginTest, KeysCannotEscapeTheRoot) {
  TempDir dir;
  dir.write("secret", "outside");
  dir.write("root/inside", "in");
  PosixOrigin o(dir / "root");
  std::vector<std::byte> buf(16);
  for (std::string key : {"../secret", "inside/../../secret", "..", "/etc/passwd"}) {
    EXPECT_EQ(o.stat(key).status().code(), Code::kInvalid) << key;
    EXPECT_EQ(o.list(key).status().code(), Code::kInvalid) << key;
    EXPECT_EQ(o.read(key, "", 0, buf).status().code(), Code::kInvalid) << key;
  }
}

TEST(PosixOriginTest, SymlinksInsideAreFollowedAndSpecialFilesLeftOut) {
  TempDir dir;
  dir.write("root/real/a.jpg", "jpeg bytes");
  dir.write("root/train/v3/x.bin", "version three");
  dir.write("root/train/labels.txt", "labels");
  std::string root = dir / "root";
  ASSERT_EQ(::symlink("real/a.jpg", (root + "/link.jpg").c_str()), 0);
  ASSERT_EQ(::symlink("real", (root + "/linkdir").c_str()), 0);
  ASSERT_EQ(::symlink("v3", (root + "/train/latest").c_str()), 0);
  // Relative links that climb, but never above the root: a sibling, and a chain of two.
  ASSERT_EQ(::symlink("../../real/a.jpg", (root + "/train/v3/sibling.jpg").c_str()), 0);
  ASSERT_EQ(::symlink("../train/latest", (root + "/real/chain").c_str()), 0);
  ASSERT_EQ(::symlink("nowhere", (root + "/dangling").c_str()), 0);
  ASSERT_EQ(::symlink("loop", (root + "/loop").c_str()), 0);
  ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0644), 0);

  PosixOrigin o(root);
  Result<std::vector<DirEntry>> entries = o.list("");
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  EXPECT_EQ(namesOf(*entries),
            (std::vector<std::string>{"link.jpg", "linkdir", "real", "train"}));

  Result<ObjectInfo> link = o.stat("link.jpg");
  ASSERT_TRUE(link.isOk()) << link.status().toString();
  EXPECT_EQ(link->type, EntryType::kFile);
  EXPECT_EQ(link->size, 10u);
  EXPECT_EQ(link->etag, o.stat("real/a.jpg")->etag);  // the target's identity
  EXPECT_EQ(o.stat("linkdir")->type, EntryType::kDirectory);
  EXPECT_EQ(namesOf(*o.list("linkdir")), (std::vector<std::string>{"a.jpg", "chain"}));
  EXPECT_EQ(namesOf(*o.list("train")), (std::vector<std::string>{"labels.txt", "latest", "v3"}));
  EXPECT_EQ(namesOf(*o.list("train/latest")),
            (std::vector<std::string>{"sibling.jpg", "x.bin"}));
  EXPECT_EQ(namesOf(*o.list("real/chain")), (std::vector<std::string>{"sibling.jpg", "x.bin"}));

  Result<std::string> bytes = readAll(o, "linkdir/a.jpg", link->etag);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  EXPECT_EQ(*bytes, "jpeg bytes");
  bytes = readAll(o, "train/latest/sibling.jpg", link->etag);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  EXPECT_EQ(*bytes, "jpeg bytes");
  Result<ObjectInfo> x = o.stat("real/chain/x.bin");
  ASSERT_TRUE(x.isOk()) << x.status().toString();
  EXPECT_EQ(*readAll(o, "real/chain/x.bin", x->etag), "version three");

  std::vector<std::byte> buf(16);
  for (std::string key : {"dangling", "loop", "fifo"}) {
    EXPECT_EQ(o.stat(key).status().code(), Code::kNotFound) << key;
    // For the FIFO: answered at once, not blocked waiting for a writer.
    EXPECT_EQ(o.read(key, "", 0, buf).status().code(), Code::kNotFound) << key;
  }
}

TEST(PosixOriginTest, LinksOutOfTheRootAreNotFollowed) {
  TempDir dir;
  dir.write("outside.bin", "secret outside the origin");
  dir.write("root/sub/in.txt", "inside");
  std::string root = dir / "root";
  const std::vector<std::pair<std::string, std::string>> links = {
      {"passwd", "/etc/passwd"},                  // absolute, out
      {"slash", "/"},                             // the whole root filesystem
      {"sub/up", "../../outside.bin"},            // relative, climbing out
      {"sub/updir", "../.."},                     // a directory above the root
      {"back-in", "../root/sub/in.txt"},          // leaves the root, even if to come back
      {"absolute-in", root + "/sub/in.txt"},      // absolute, even naming a path inside
      {"magic", "/proc/self/root"},               // a magic link
      {"via-out", "sub/up"},                      // a link inside, to a link out
  };
  for (const auto& [name, target] : links) {
    ASSERT_EQ(::symlink(target.c_str(), (root + "/" + name).c_str()), 0) << name;
  }

  PosixOrigin o(root);
  Result<std::vector<DirEntry>> top = o.list("");
  ASSERT_TRUE(top.isOk()) << top.status().toString();
  EXPECT_EQ(namesOf(*top), std::vector<std::string>{"sub"});
  Result<std::vector<DirEntry>> sub = o.list("sub");
  ASSERT_TRUE(sub.isOk()) << sub.status().toString();
  EXPECT_EQ(namesOf(*sub), std::vector<std::string>{"in.txt"});

  std::vector<std::byte> buf(64);
  for (const auto& [name, target] : links) {
    EXPECT_EQ(o.stat(name).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(o.read(name, "", 0, buf).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(o.list(name).status().code(), Code::kNotFound) << name;
  }
  // Nor below them: the root filesystem's and the parent's files are not reachable.
  for (std::string key : {"slash/etc/passwd", "sub/updir/outside.bin", "magic/etc/passwd"}) {
    EXPECT_EQ(o.stat(key).status().code(), Code::kNotFound) << key;
    EXPECT_EQ(o.read(key, "", 0, buf).status().code(), Code::kNotFound) << key;
  }
  EXPECT_EQ(o.list("slash/etc").status().code(), Code::kNotFound);
}

TEST(PosixOriginTest, ModesWithoutWriteBitsAndOwnersComeThrough) {
  TempDir dir;
  dir.write("private", "0600");
  dir.write("none", "0000");
  dir.write("exec", "04755");
  dir.write("locked/inner", "in a 0700 dir");
  std::string root = dir.path();
  ASSERT_EQ(::chmod((dir / "private").c_str(), 0640), 0);
  ASSERT_EQ(::chown((dir / "private").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((dir / "none").c_str(), 0), 0);
  ASSERT_EQ(::chmod((dir / "exec").c_str(), 04755), 0);
  ASSERT_EQ(::chmod((dir / "locked").c_str(), 0700), 0);
  ASSERT_EQ(::chown((dir / "locked").c_str(), 4321, 8765), 0);
  ASSERT_EQ(::chmod(root.c_str(), 0751), 0);
  ASSERT_EQ(::symlink("private", (dir / "link").c_str()), 0);

  PosixOrigin o(root);
  struct Want {
    std::string key;
    uint16_t mode;
    uint32_t uid, gid;
  };
  const std::vector<Want> wants = {
      {"", 0551, 0, 0},           {"private", 0440, 1234, 5678}, {"none", 0, 0, 0},
      {"exec", 0555, 0, 0},       {"locked", 0500, 4321, 8765},  {"link", 0440, 1234, 5678},
  };
  for (const Want& w : wants) {
    Result<ObjectInfo> info = o.stat(w.key);
    ASSERT_TRUE(info.isOk()) << w.key << ": " << info.status().toString();
    EXPECT_TRUE(info->hasMode()) << w.key;
    EXPECT_EQ(info->mode, w.mode) << w.key;
    EXPECT_EQ(info->uid, w.uid) << w.key;
    EXPECT_EQ(info->gid, w.gid) << w.key;
  }
  Result<std::vector<DirEntry>> entries = o.list("");
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  for (const DirEntry& e : *entries) {
    auto want = std::find_if(wants.begin(), wants.end(),
                             [&](const Want& w) { return w.key == e.name; });
    ASSERT_NE(want, wants.end()) << e.name;
    EXPECT_EQ(e.info.mode, want->mode) << e.name;
    EXPECT_EQ(e.info.uid, want->uid) << e.name;
    EXPECT_EQ(e.info.gid, want->gid) << e.name;
  }
}

TEST(PosixOriginTest, RootGivenAsALinkIsResolvedOnce) {
  TempDir dir;
  dir.write("v1/a.txt", "one");
  dir.write("v2/b.txt", "two");
  ASSERT_EQ(::symlink("v1", (dir / "current").c_str()), 0);

  PosixOrigin o(dir / "current");
  EXPECT_EQ(o.describe(), "posix:" + (dir / "current"));
  Result<std::vector<DirEntry>> entries = o.list("");
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  EXPECT_EQ(namesOf(*entries), std::vector<std::string>{"a.txt"});

  // Repointed while mounted: this origin keeps serving what it opened.
  ASSERT_EQ(::unlink((dir / "current").c_str()), 0);
  ASSERT_EQ(::symlink("v2", (dir / "current").c_str()), 0);
  EXPECT_EQ(namesOf(*o.list("")), std::vector<std::string>{"a.txt"});
  EXPECT_EQ(namesOf(*PosixOrigin(dir / "current").list("")), std::vector<std::string>{"b.txt"});
}

TEST(PosixOriginTest, MissingRootFailsEveryCall) {
  TempDir dir;
  PosixOrigin o(dir / "absent");
  std::vector<std::byte> buf(4);
  EXPECT_EQ(o.stat("").status().code(), Code::kNotFound);
  EXPECT_EQ(o.list("").status().code(), Code::kNotFound);
  EXPECT_EQ(o.read("a", "", 0, buf).status().code(), Code::kNotFound);
}

TEST(PosixOriginTest, InPlaceRewritesMakeTheEtagStale) {
  TempDir dir;
  dir.write("f", "version one");
  PosixOrigin o(dir.path());
  std::string etag1 = o.stat("f")->etag;

  dir.write("f", "version two!");  // same inode, another size
  Result<std::string> r = readAll(o, "f", etag1);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kStale);
  EXPECT_NE(r.status().message().find(dir / "f"), std::string::npos) << r.status().message();

  std::string etag2 = o.stat("f")->etag;
  dir.write("f", "version 3!!!");  // same inode, same size: only the mtime tells
  struct timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 123}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "f").c_str(), times, 0), 0);
  EXPECT_EQ(readAll(o, "f", etag2).status().code(), Code::kStale);
  Result<ObjectInfo> info = o.stat("f");
  EXPECT_EQ(info->mtimeNs, 1'000'000'000'000'000'123);
  EXPECT_EQ(*readAll(o, "f", info->etag), "version 3!!!");
}

TEST(PosixOriginTest, ReadsAtOffsetsBeyondFourGiB) {
  TempDir dir;
  int fd = ::open((dir / "sparse").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  constexpr uint64_t kSize = 5ull << 30;
  ASSERT_EQ(::pwrite(fd, "tail", 4, static_cast<off_t>(kSize - 4)), 4);
  ::close(fd);

  PosixOrigin o(dir.path());
  Result<ObjectInfo> info = o.stat("sparse");
  ASSERT_TRUE(info.isOk());
  EXPECT_EQ(info->size, kSize);
  std::vector<std::byte> buf(10);
  Result<size_t> n = o.read("sparse", info->etag, kSize - 6, buf);
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  ASSERT_EQ(*n, 6u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), 6), std::string("\0\0tail", 6));
}

TEST(PosixOriginTest, UnreadableFileIsPermissionDenied) {
  TempDir dir;
  dir.write("locked", "x");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // traversable: only the file is locked
  ASSERT_EQ(::chmod((dir / "locked").c_str(), 0), 0);
  // As root the read would succeed; the check runs as an unprivileged user.
  EXPECT_TRUE(test::passesUnprivileged([&] {
    PosixOrigin o(dir.path());
    auto info = o.stat("locked");
    if (!info.isOk()) return false;
    std::vector<std::byte> buf(4);
    return o.read("locked", info->etag, 0, buf).status().code() == Code::kPermissionDenied;
  }));
}

}  // namespace
}  // namespace epochfs::origin
