#include "cache/Index.h"

#include <map>

#include <gtest/gtest.h>

#include "cache/tests/CacheTestUtil.h"

namespace epochfs::cache {
namespace {

using namespace std::string_literals;

IndexEntry entry(uint64_t id, std::string etag = "v1") {
  return IndexEntry{id, static_cast<uint32_t>(1000 + id), std::move(etag), {id, id * 7, ~id}};
}

TEST(IndexTest, BlockKeysSortByFileThenBlockNumber) {
  std::string k = blockKey("a/b.jpg", 0x0102);
  EXPECT_EQ(k, std::string("a/b.jpg\0\0\0\0\0\0\0\x01\x02", 16));
  EXPECT_LT(blockKey("a", 255), blockKey("a", 256));
  EXPECT_LT(blockKey("a", ~0ULL), blockKey("a/b", 0));  // '\0' sorts before any key byte
}

TEST(IndexTest, EntryRoundTripAndCorruptInput) {
  IndexEntry e = entry(42, std::string("etag\0with nul", 13));
  auto back = decodeEntry(encodeEntry(e));
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(*back, e);
  IndexEntry empty{7, 0, "", {}};
  ASSERT_TRUE(decodeEntry(encodeEntry(empty)).isOk());
  EXPECT_EQ(*decodeEntry(encodeEntry(empty)), empty);

  std::string bytes = encodeEntry(e);
  EXPECT_EQ(decodeEntry("").status().code(), Code::kCorrupt);
  EXPECT_EQ(decodeEntry(bytes.substr(0, bytes.size() - 1)).status().code(), Code::kCorrupt);
  EXPECT_EQ(decodeEntry(bytes + "x").status().code(), Code::kCorrupt);
  std::string badVersion = bytes;
  badVersion[0] = 99;
  EXPECT_EQ(decodeEntry(badVersion).status().code(), Code::kCorrupt);
}

TEST(IndexTest, ObjectEntriesRoundTripAndBadFlagsAreCorrupt) {
  IndexEntry e = entry(43, "etag");
  e.object = true;
  e.offset = 5ULL << 32;
  auto back = decodeEntry(encodeEntry(e));
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(*back, e);
  // Layout 2: version, id (8), flags (1), offset (8), ...
  std::string bytes = encodeEntry(e);
  std::string badFlags = bytes;
  badFlags[9] = static_cast<char>(0x80);
  EXPECT_EQ(decodeEntry(badFlags).status().code(), Code::kCorrupt);
  std::string blockFileAtOffset = bytes;
  blockFileAtOffset[9] = 0;
  EXPECT_EQ(decodeEntry(blockFileAtOffset).status().code(), Code::kCorrupt);
}

// An index written before object files (layout 1: no flags, no offset) still reads: its
// entries are block files at offset 0.
TEST(IndexTest, Layout1EntriesStillDecodeAsBlockFiles) {
  IndexEntry e = entry(44, "v1-etag");
  std::string v2 = encodeEntry(e);
  std::string v1 = v2.substr(0, 9) + v2.substr(9 + 1 + 8);
  v1[0] = 1;
  auto back = decodeEntry(v1);
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(*back, e);
  EXPECT_FALSE(back->object);
  EXPECT_EQ(back->offset, 0u);
}

TEST(IndexTest, PutGetEraseAndReopen) {
  testing::TempDir dir;
  std::string path = dir.path() + "/index";
  {
    auto index = Index::open(path);
    ASSERT_TRUE(index.isOk()) << index.status().toString();
    for (uint64_t i = 0; i < 100; ++i) {
      ASSERT_TRUE((*index)->put(blockKey("file", i), entry(i)).isOk());
    }
    auto got = (*index)->get(blockKey("file", 5));
    ASSERT_TRUE(got.isOk());
    EXPECT_EQ(*got, entry(5));
    EXPECT_EQ((*index)->get(blockKey("nope", 0)).status().code(), Code::kNotFound);
    ASSERT_TRUE((*index)->erase(blockKey("file", 5)).isOk());
    ASSERT_TRUE((*index)->erase(blockKey("never", 1)).isOk());
    EXPECT_EQ((*index)->get(blockKey("file", 5)).status().code(), Code::kNotFound);
    ASSERT_TRUE((*index)->put(blockKey("file", 6), entry(6, "v2")).isOk());  // overwrite
    EXPECT_GT((*index)->diskBytes(), 0u);
  }
  auto index = Index::open(path);
  ASSERT_TRUE(index.isOk()) << index.status().toString();
  std::map<std::string, IndexEntry> seen;
  std::string last;
  ASSERT_TRUE((*index)
                  ->forEach([&](std::string_view key, Result<IndexEntry> e) {
                    ASSERT_TRUE(e.isOk());
                    EXPECT_LT(last, std::string(key));  // key order
                    last = std::string(key);
                    seen.emplace(std::string(key), *e);
                  })
                  .isOk());
  EXPECT_EQ(seen.size(), 99u);
  EXPECT_FALSE(seen.contains(blockKey("file", 5)));
  EXPECT_EQ(seen.at(blockKey("file", 6)), entry(6, "v2"));
  EXPECT_EQ(seen.at(blockKey("file", 99)), entry(99));
}

TEST(IndexTest, NamespaceRecordsReplaceUpdateGetAndScanByPrefix) {
  testing::TempDir dir;
  std::string path = dir.path() + "/index";
  auto scan = [](const Index& index, std::string_view prefix, size_t stopAfter = 1000) {
    std::vector<std::string> keys;
    Status st = index.scanNamespace(prefix, [&](std::string_view k, std::string_view v) {
      keys.push_back(std::string(k) + "=" + std::string(v));
      return keys.size() < stopAfter;
    });
    EXPECT_TRUE(st.isOk()) << st.toString();
    return keys;
  };
  {
    auto index = Index::open(path);
    ASSERT_TRUE(index.isOk()) << index.status().toString();
    ASSERT_TRUE((*index)->replaceNamespace({{"ea\0y"s, "2"}, {"ea\0x"s, "1"}, {"eab\0z"s, "3"},
                                            {"m", "meta"}}).isOk());
    // Block entries live in another column family: neither sees the other.
    ASSERT_TRUE((*index)->put(blockKey("ea", 0), entry(1)).isOk());
    EXPECT_EQ((*index)->getNamespace("m").value(), "meta");
    EXPECT_EQ((*index)->getNamespace("ea").status().code(), Code::kNotFound);
    EXPECT_EQ(scan(**index, "ea\0"s),
              (std::vector<std::string>{"ea\0x=1"s, "ea\0y=2"s}));
    EXPECT_EQ(scan(**index, "ea\0"s, 1).size(), 1u) << "fn returning false stops";
    EXPECT_EQ(scan(**index, "ez").size(), 0u);
    EXPECT_EQ(scan(**index, "").size(), 4u);
    ASSERT_TRUE((*index)->updateNamespace({{"ea\0x"s, std::nullopt},
                                           {"ea\0w"s, "0"},
                                           {"m", "meta2"}}).isOk());
  }
  auto index = Index::open(path);  // the updates survive a reopen
  ASSERT_TRUE(index.isOk()) << index.status().toString();
  EXPECT_EQ(scan(**index, "ea\0"s),
            (std::vector<std::string>{"ea\0w=0"s, "ea\0y=2"s}));
  EXPECT_EQ((*index)->getNamespace("m").value(), "meta2");
  ASSERT_TRUE((*index)->replaceNamespace({{"m", "meta3"}}).isOk());  // replaces everything
  EXPECT_EQ(scan(**index, ""), (std::vector<std::string>{"m=meta3"}));
  EXPECT_TRUE((*index)->get(blockKey("ea", 0)).isOk()) << "blocks are not namespace records";
}

TEST(IndexTest, StaysSmall) {
  testing::TempDir dir;
  auto index = Index::open(dir.path() + "/index");
  ASSERT_TRUE(index.isOk());
  // 20k entries of a 4 MiB block each (32 checksums): an 80 GiB cache.
  IndexEntry e{0, 4 << 20, "\"0123456789abcdef0123456789abcdef\"", std::vector<uint64_t>(32, 9)};
  for (uint64_t i = 0; i < 20000; ++i) {
    e.blockId = i;
    ASSERT_TRUE((*index)->put(blockKey("train/shard-" + std::to_string(i / 100), i), e).isOk());
  }
  uint64_t bytes = (*index)->diskBytes();
  EXPECT_LT(bytes, 16ULL << 20) << bytes;
  EXPECT_GE(testing::diskUsage(dir.path() + "/index") , bytes / 2);
}

TEST(IndexTest, OpenFailureNamesTheDir) {
  auto index = Index::open("/proc/definitely/not/here");
  ASSERT_FALSE(index.isOk());
  EXPECT_NE(index.status().message().find("/proc/definitely/not/here"), std::string::npos);
}

}  // namespace
}  // namespace epochfs::cache
