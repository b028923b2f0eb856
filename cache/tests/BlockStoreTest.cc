#include "cache/BlockStore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "cache/tests/CacheTestUtil.h"

namespace epochfs::cache {
namespace {

using testing::asBytes;
using testing::randomBytes;

TEST(BlockStoreTest, WriteReadRemoveList) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk()) << store.status().toString();
  std::string a = randomBytes(10000, 1);
  std::string b = randomBytes(1, 2);
  ASSERT_TRUE((*store)->write(BlockFileId{0x1234}, asBytes(a)).isOk());
  ASSERT_TRUE((*store)->write(BlockFileId{7}, asBytes(b)).isOk());
  EXPECT_EQ((*store)->blockPath(BlockFileId{0x1234}), dir.path() + "/blocks/34/0000000000001234");
  EXPECT_TRUE(std::filesystem::exists((*store)->blockPath(BlockFileId{0x1234})));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp"));

  std::string buf(300, '\0');
  auto span = std::as_writable_bytes(std::span<char>(buf.data(), buf.size()));
  auto got = (*store)->pread(BlockFileId{0x1234}, 5000, span);
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, 300u);
  EXPECT_EQ(buf, a.substr(5000, 300));
  got = (*store)->pread(BlockFileId{0x1234}, 9900, span);  // short at the end
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, 100u);
  EXPECT_EQ(buf.substr(0, 100), a.substr(9900));
  // With read-ahead advice (beyond the file's end too): the same bytes.
  got = (*store)->pread(BlockFileId{0x1234}, 0, span, /*readAheadTo=*/20000);
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(*got, 300u);
  EXPECT_EQ(buf, a.substr(0, 300));
  EXPECT_EQ((*store)->pread(BlockFileId{99}, 0, span).status().code(), Code::kNotFound);

  auto list = (*store)->list();
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 2u);
  std::sort(list->begin(), list->end(), [](auto& x, auto& y) { return x.id < y.id; });
  EXPECT_EQ(toU64((*list)[0].id), 7u);
  EXPECT_EQ((*list)[0].size, 1u);
  EXPECT_EQ(toU64((*list)[1].id), 0x1234u);
  EXPECT_EQ((*list)[1].size, 10000u);

  ASSERT_TRUE((*store)->remove(BlockFileId{7}).isOk());
  ASSERT_TRUE((*store)->remove(BlockFileId{7}).isOk());  // already gone: fine
  EXPECT_EQ((*store)->pread(BlockFileId{7}, 0, span).status().code(), Code::kNotFound);
  ASSERT_EQ((*store)->list()->size(), 1u);
}

TEST(BlockStoreTest, OpenEmptiesTmpAndListDropsForeignFiles) {
  testing::TempDir dir;
  {
    auto store = BlockStore::open(dir.path());
    ASSERT_TRUE(store.isOk());
    ASSERT_TRUE((*store)->write(BlockFileId{1}, asBytes("x")).isOk());
  }
  std::ofstream(dir.path() + "/tmp/0000000000000009") << "half a block";
  std::ofstream(dir.path() + "/blocks/01/not-a-block") << "junk";
  std::ofstream(dir.path() + "/blocks/02/0000000000000001") << "wrong subdir";
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  EXPECT_EQ((*store)->tmpFilesRemoved(), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp"));
  auto list = (*store)->list();
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(toU64((*list)[0].id), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/blocks/01/not-a-block"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/blocks/02/0000000000000001"));
}

TEST(BlockStoreTest, AllocatedBytesAndDirectoryBytes) {
  EXPECT_EQ(BlockStore::allocatedBytes(0), 0u);
  EXPECT_EQ(BlockStore::allocatedBytes(1), 4096u);
  EXPECT_EQ(BlockStore::allocatedBytes(4096), 4096u);
  EXPECT_EQ(BlockStore::allocatedBytes(4097), 8192u);
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  uint64_t before = (*store)->directoryBytes();
  EXPECT_GT(before, 0u);
  for (uint64_t id = 0; id < 16; ++id) {
    ASSERT_TRUE((*store)->write(BlockFileId{id}, asBytes("abc")).isOk());
  }
  EXPECT_GT((*store)->directoryBytes(), before);  // 16 new subdirectories
  // The accounting covers what the files really occupy.
  uint64_t files = 0;
  for (const auto& p : testing::filesUnder(dir.path() + "/blocks")) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    files += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  EXPECT_LE(files, 16 * BlockStore::allocatedBytes(3));
}

// A store that writes through tmp/ and a rename, as on a filesystem without O_TMPFILE.
class RenamingStore final : public BlockStore {
 public:
  explicit RenamingStore(const std::string& dir) : BlockStore(dir, false, false) {}
};

TEST(BlockStoreTest, LinkedAndRenamedWritesGiveTheSamePrivateFiles) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk()) << store.status().toString();
  // The probe decides: this test dir's filesystem (ext4 or tmpfs) has O_TMPFILE.
  const int probe = ::open((dir.path() + "/blocks").c_str(), O_TMPFILE | O_WRONLY, 0600);
  EXPECT_EQ((*store)->linksTmpfiles(), probe >= 0);
  if (probe >= 0) ::close(probe);
  RenamingStore renaming(dir.path());
  ASSERT_FALSE(renaming.linksTmpfiles());
  const std::string a = randomBytes(5000, 3);
  ASSERT_TRUE((*store)->write(BlockFileId{0x101}, asBytes(a)).isOk());
  ASSERT_TRUE(renaming.write(BlockFileId{0x201}, asBytes(a)).isOk());
  for (uint64_t id : {0x101, 0x201}) {
    const std::string path = (*store)->blockPath(BlockFileId{id});
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
    std::string buf(a.size(), '\0');
    auto got = (*store)->pread(BlockFileId{id}, 0,
                               std::as_writable_bytes(std::span<char>(buf.data(), buf.size())));
    ASSERT_TRUE(got.isOk());
    EXPECT_EQ(buf, a) << path;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp"));
  // Two files in blocks/01: nothing else (no unnamed file left linked twice or lost).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() + "/blocks/01"),
                          std::filesystem::directory_iterator{}),
            2);
}

TEST(BlockStoreTest, SubdirsAreMadeByTheirFirstFileAndAgainIfTheyVanish) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  ASSERT_TRUE((*store)->write(BlockFileId{0x205}, asBytes("abc")).isOk());
  ASSERT_TRUE((*store)->writeAt(BlockFileId{0x206}, 0, asBytes("abc")).isOk());
  std::filesystem::remove_all(dir.path() + "/blocks/05");
  ASSERT_TRUE((*store)->write(BlockFileId{0x305}, asBytes("abc")).isOk());
  std::filesystem::remove_all(dir.path() + "/blocks/06");
  ASSERT_TRUE((*store)->writeAt(BlockFileId{0x306}, 0, asBytes("def")).isOk());
  EXPECT_TRUE(std::filesystem::exists((*store)->blockPath(BlockFileId{0x305})));
  EXPECT_TRUE(std::filesystem::exists((*store)->blockPath(BlockFileId{0x306})));
}

TEST(BlockStoreTest, WriteFailureLeavesNothing) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  // A directory where the block file should go makes the rename fail.
  std::filesystem::create_directories((*store)->blockPath(BlockFileId{5}));
  std::filesystem::create_directories((*store)->blockPath(BlockFileId{5}) + "/x");
  Status st = (*store)->write(BlockFileId{5}, asBytes("abc"));
  EXPECT_FALSE(st.isOk());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp"));
  // Only the directory in the way is in blocks/05: the unnamed file went with its fd.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() + "/blocks/05"),
                          std::filesystem::directory_iterator{}),
            1);
}

TEST(BlockStoreTest, OpenReadGivesAReadOnlyFdThatOutlivesTheRemove) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  std::string a = randomBytes(5000, 3);
  ASSERT_TRUE((*store)->write(BlockFileId{9}, asBytes(a)).isOk());
  auto fd = (*store)->openRead(BlockFileId{9});
  ASSERT_TRUE(fd.isOk()) << fd.status().toString();
  EXPECT_EQ(::fcntl(*fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_NE(::fcntl(*fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_LT(::write(*fd, "x", 1), 0) << "read-only";
  // Removed: the open file still reads (what a hand-out to the kernel relies on).
  ASSERT_TRUE((*store)->remove(BlockFileId{9}).isOk());
  std::string buf(6000, '\0');
  ssize_t n = ::pread(*fd, buf.data(), buf.size(), 0);
  ASSERT_EQ(n, 5000);
  EXPECT_EQ(buf.substr(0, 5000), a);
  ::close(*fd);

  auto missing = (*store)->openRead(BlockFileId{9});
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().toString().find((*store)->blockPath(BlockFileId{9})),
            std::string::npos)
      << missing.status().toString();
}

// Object files: blocks written at their offsets, punched out one by one; the allocated ranges
// are what is left.
TEST(BlockStoreTest, WriteAtPunchAndDataRanges) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  if (!(*store)->punchesHoles()) GTEST_SKIP() << "the test dir's filesystem cannot punch holes";
  constexpr uint64_t kSlot = 64 * 1024;
  const BlockFileId id{21};
  const std::string b0 = randomBytes(kSlot, 4);
  const std::string b2 = randomBytes(kSlot, 5);
  const std::string b3 = randomBytes(1000, 6);  // a short last block
  ASSERT_TRUE((*store)->writeAt(id, 2 * kSlot, asBytes(b2)).isOk());
  ASSERT_TRUE((*store)->writeAt(id, 0, asBytes(b0)).isOk());
  ASSERT_TRUE((*store)->writeAt(id, 3 * kSlot, asBytes(b3)).isOk());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp")) << "written in place";
  EXPECT_EQ(std::filesystem::file_size((*store)->blockPath(id)), 3 * kSlot + 1000);

  auto ranges = (*store)->dataRanges(id);
  ASSERT_TRUE(ranges.isOk()) << ranges.status().toString();
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].start, 0u);
  EXPECT_EQ((*ranges)[0].end, kSlot);
  EXPECT_EQ((*ranges)[1].start, 2 * kSlot);
  EXPECT_GE((*ranges)[1].end, 3 * kSlot + 1000);  // to the end of its last page

  std::string buf(kSlot, '\0');
  auto span = std::as_writable_bytes(std::span<char>(buf.data(), buf.size()));
  auto got = (*store)->pread(id, 2 * kSlot, span);
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(buf, b2);

  ASSERT_TRUE((*store)->punch(id, 2 * kSlot, kSlot).isOk());
  ranges = (*store)->dataRanges(id);
  ASSERT_TRUE(ranges.isOk());
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[1].start, 3 * kSlot);
  got = (*store)->pread(id, 2 * kSlot, span);
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(buf, std::string(kSlot, '\0')) << "a punched range reads as zeros";
  got = (*store)->pread(id, 0, span);
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(buf, b0) << "the other blocks stay";
  EXPECT_EQ(std::filesystem::file_size((*store)->blockPath(id)), 3 * kSlot + 1000) << "size kept";

  // Allocated bytes follow the blocks left.
  struct stat st {};
  ASSERT_EQ(::stat((*store)->blockPath(id).c_str(), &st), 0);
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512,
            BlockStore::allocatedBytes(kSlot) + BlockStore::allocatedBytes(1000));

  EXPECT_TRUE((*store)->punch(BlockFileId{999}, 0, kSlot).isOk()) << "a missing file is fine";
  auto missing = (*store)->dataRanges(BlockFileId{999});
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().toString().find((*store)->blockPath(BlockFileId{999})),
            std::string::npos);
}

TEST(BlockStoreTest, WriteAtFailureLeavesTheRangeUnallocated) {
  testing::TempDir dir;
  auto store = BlockStore::open(dir.path());
  ASSERT_TRUE(store.isOk());
  // A directory where the object file should go: the open fails, nothing is made.
  std::filesystem::create_directories((*store)->blockPath(BlockFileId{6}));
  Status st = (*store)->writeAt(BlockFileId{6}, 4096, asBytes("abc"));
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.toString().find((*store)->blockPath(BlockFileId{6})), std::string::npos)
      << st.toString();
}

}  // namespace
}  // namespace epochfs::cache
