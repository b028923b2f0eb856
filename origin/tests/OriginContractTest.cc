// origin/tests/OriginContractTest.cc: the Origin contract (see OriginContract.h).
#include "origin/tests/OriginContract.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

namespace epochfs::origin {
namespace {

std::string randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Reads [offset, offset + len) and returns the bytes, or the error as a test failure.
std::string readRange(Origin& o, const std::string& key, const std::string& etag,
                      uint64_t offset, size_t len) {
  std::vector<std::byte> buf(len);
  Result<size_t> n = o.read(key, etag, offset, buf);
  EXPECT_TRUE(n.isOk()) << key << " @" << offset << "+" << len << ": "
                        << n.status().toString();
  if (!n.isOk()) return {};
  EXPECT_LE(*n, len);
  return std::string(reinterpret_cast<const char*>(buf.data()), *n);
}

std::string etagOf(Origin& o, const std::string& key) {
  Result<ObjectInfo> info = o.stat(key);
  EXPECT_TRUE(info.isOk()) << key << ": " << info.status().toString();
  return info.isOk() ? info->etag : std::string();
}

std::vector<std::string> namesOf(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) names.push_back(e.name);
  return names;
}

// What the slice of `bytes` at [offset, offset + len) is, clipped at the end.
std::string expectedSlice(const std::string& bytes, uint64_t offset, size_t len) {
  if (offset >= bytes.size()) return {};
  return bytes.substr(offset, len);
}

}  // namespace

const OriginFiles& OriginContractTest::files() {
  static const OriginFiles kFiles = {
      {"a.txt", "hello"},
      {"empty", ""},
      {"big.bin", randomBytes(1024 * 1024 + 3, 1)},
      {"dir/b.bin", randomBytes(70000, 2)},
      {"dir/\xc3\xbcn\xc3\xaf c\xc3\xb6" "d\xc3\xa9.jpg", "unicode name"},  // "ünï cödé.jpg"
      {"dir/a b+c%d=e", "special characters"},
      {"dir/sub/c.txt", "c"},
      {"dir/z", "zz"},
      {"dir+/q", "q"},
      {"dir.x/y", "y"},
  };
  return kFiles;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OriginContractTest);

TEST_P(OriginContractTest, StatFilesHaveSizeAndEtag) {
  for (const auto& [key, bytes] : files()) {
    Result<ObjectInfo> info = origin().stat(key);
    ASSERT_TRUE(info.isOk()) << key << ": " << info.status().toString();
    EXPECT_EQ(info->type, EntryType::kFile) << key;
    EXPECT_EQ(info->size, bytes.size()) << key;
    EXPECT_FALSE(info->etag.empty()) << key;
  }
}

TEST_P(OriginContractTest, EtagIsStableWhileTheFileIsUnchanged) {
  EXPECT_EQ(etagOf(origin(), "dir/b.bin"), etagOf(origin(), "dir/b.bin"));
}

TEST_P(OriginContractTest, StatDirectories) {
  for (std::string key : {"", "dir", "dir/sub", "dir+", "dir.x"}) {
    Result<ObjectInfo> info = origin().stat(key);
    ASSERT_TRUE(info.isOk()) << '"' << key << "\": " << info.status().toString();
    EXPECT_EQ(info->type, EntryType::kDirectory) << key;
    EXPECT_EQ(info->size, 0u) << key;
    EXPECT_EQ(info->etag, "") << key;
  }
}

TEST_P(OriginContractTest, StatMissingIsNotFound) {
  for (std::string key : {"nope", "dir/nope", "a.txt/x", "dir/sub/c.txt/d", "di", "dir/su"}) {
    Result<ObjectInfo> info = origin().stat(key);
    ASSERT_FALSE(info.isOk()) << key;
    EXPECT_EQ(info.status().code(), Code::kNotFound) << key << ": " << info.status().toString();
  }
}

TEST_P(OriginContractTest, ListRootIsSortedBytewise) {
  Result<std::vector<DirEntry>> entries = origin().list("");
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  EXPECT_EQ(namesOf(*entries), (std::vector<std::string>{"a.txt", "big.bin", "dir", "dir+",
                                                         "dir.x", "empty"}));
  for (const DirEntry& e : *entries) {
    bool isDir = e.name.starts_with("dir");
    EXPECT_EQ(e.info.type, isDir ? EntryType::kDirectory : EntryType::kFile) << e.name;
  }
}

TEST_P(OriginContractTest, ListNestedMatchesStat) {
  Result<std::vector<DirEntry>> entries = origin().list("dir");
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  EXPECT_EQ(namesOf(*entries),
            (std::vector<std::string>{"a b+c%d=e", "b.bin", "sub", "z",
                                      "\xc3\xbcn\xc3\xaf c\xc3\xb6" "d\xc3\xa9.jpg"}));
  for (const DirEntry& e : *entries) {
    std::string key = joinKey("dir", e.name);
    Result<ObjectInfo> info = origin().stat(key);
    ASSERT_TRUE(info.isOk()) << key << ": " << info.status().toString();
    EXPECT_EQ(e.info.type, info->type) << key;
    EXPECT_EQ(e.info.size, info->size) << key;
    EXPECT_EQ(e.info.etag, info->etag) << key;
    // Permissions and owner too (a directory origin has them, S3 has none: kNoMode in both).
    EXPECT_TRUE(e.info.sameAccess(*info)) << key;
  }

  Result<std::vector<DirEntry>> sub = origin().list("dir/sub");
  ASSERT_TRUE(sub.isOk()) << sub.status().toString();
  ASSERT_EQ(namesOf(*sub), std::vector<std::string>{"c.txt"});
  EXPECT_EQ((*sub)[0].info.size, 1u);
}

// Walking the tree from the root finds exactly the files, with their sizes.
TEST_P(OriginContractTest, WalkFindsEveryFile) {
  OriginFiles found;
  std::vector<std::string> dirs = {""};
  while (!dirs.empty()) {
    std::string dir = dirs.back();
    dirs.pop_back();
    Result<std::vector<DirEntry>> entries = origin().list(dir);
    ASSERT_TRUE(entries.isOk()) << dir << ": " << entries.status().toString();
    EXPECT_TRUE(std::is_sorted(entries->begin(), entries->end(),
                               [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; }))
        << dir;
    for (const DirEntry& e : *entries) {
      if (e.info.type == EntryType::kDirectory) {
        dirs.push_back(joinKey(dir, e.name));
      } else {
        found[joinKey(dir, e.name)] = std::to_string(e.info.size);
      }
    }
  }
  OriginFiles expected;
  for (const auto& [key, bytes] : files()) expected[key] = std::to_string(bytes.size());
  EXPECT_EQ(found, expected);
}

TEST_P(OriginContractTest, ListMissingIsNotFound) {
  for (std::string key : {"nope", "dir/nope", "a.txt/x"}) {
    Result<std::vector<DirEntry>> entries = origin().list(key);
    ASSERT_FALSE(entries.isOk()) << key;
    EXPECT_EQ(entries.status().code(), Code::kNotFound) << key << ": "
                                                        << entries.status().toString();
  }
}

TEST_P(OriginContractTest, ListOfAFileIsNotDirectory) {
  for (std::string key : {"a.txt", "dir/sub/c.txt", "empty"}) {
    Result<std::vector<DirEntry>> entries = origin().list(key);
    ASSERT_FALSE(entries.isOk()) << key;
    EXPECT_EQ(entries.status().code(), Code::kNotDirectory) << key << ": "
                                                            << entries.status().toString();
  }
}

TEST_P(OriginContractTest, ReadWholeFilesByteExact) {
  for (const auto& [key, bytes] : files()) {
    std::string etag = etagOf(origin(), key);
    // One byte more than the file: the read is short exactly at the end.
    EXPECT_EQ(readRange(origin(), key, etag, 0, bytes.size() + 1), bytes) << key;
  }
}

TEST_P(OriginContractTest, ReadRandomRangesByteExact) {
  const std::string& bytes = files().at("big.bin");
  std::string etag = etagOf(origin(), "big.bin");
  std::mt19937_64 rng(42);
  for (int i = 0; i < 300; ++i) {
    uint64_t offset = rng() % (bytes.size() + 100);
    size_t len = 1 + rng() % (i % 10 == 0 ? 300000 : 5000);
    ASSERT_EQ(readRange(origin(), "big.bin", etag, offset, len),
              expectedSlice(bytes, offset, len))
        << "offset " << offset << " len " << len;
  }
}

TEST_P(OriginContractTest, ReadAtOrPastTheEndIsShort) {
  const std::string& bytes = files().at("dir/b.bin");
  std::string etag = etagOf(origin(), "dir/b.bin");
  EXPECT_EQ(readRange(origin(), "dir/b.bin", etag, bytes.size() - 10, 100),
            bytes.substr(bytes.size() - 10));
  EXPECT_EQ(readRange(origin(), "dir/b.bin", etag, bytes.size(), 100), "");
  EXPECT_EQ(readRange(origin(), "dir/b.bin", etag, bytes.size() + 4096, 100), "");
  EXPECT_EQ(readRange(origin(), "dir/b.bin", etag, std::numeric_limits<uint64_t>::max(), 100),
            "");
  EXPECT_EQ(readRange(origin(), "dir/b.bin", etag, 5, 0), "");
}

TEST_P(OriginContractTest, EmptyFile) {
  Result<ObjectInfo> info = origin().stat("empty");
  ASSERT_TRUE(info.isOk()) << info.status().toString();
  EXPECT_EQ(info->type, EntryType::kFile);
  EXPECT_EQ(info->size, 0u);
  EXPECT_FALSE(info->etag.empty());
  EXPECT_EQ(readRange(origin(), "empty", info->etag, 0, 10), "");
}

TEST_P(OriginContractTest, RewriteChangesEtagAndOldEtagIsStale) {
  const std::string key = "dir/a b+c%d=e";
  std::string oldEtag = etagOf(origin(), key);
  // Same size, other bytes: only the etag can tell the versions apart.
  std::string newBytes = files().at(key);
  std::reverse(newBytes.begin(), newBytes.end());
  env_->rewrite(key, newBytes);

  std::vector<std::byte> buf(100);
  Result<size_t> n = origin().read(key, oldEtag, 0, buf);
  ASSERT_FALSE(n.isOk());
  EXPECT_EQ(n.status().code(), Code::kStale) << n.status().toString();

  std::string newEtag = etagOf(origin(), key);
  EXPECT_NE(newEtag, oldEtag);
  EXPECT_EQ(readRange(origin(), key, newEtag, 0, 100), newBytes);
}

TEST_P(OriginContractTest, WrongEtagIsStale) {
  std::vector<std::byte> buf(10);
  Result<size_t> n = origin().read("a.txt", "not-the-etag", 0, buf);
  ASSERT_FALSE(n.isOk());
  EXPECT_EQ(n.status().code(), Code::kStale) << n.status().toString();
}

TEST_P(OriginContractTest, ReadMissingIsNotFound) {
  std::vector<std::byte> buf(10);
  for (std::string key : {"nope", "dir/nope", "a.txt/x"}) {
    Result<size_t> n = origin().read(key, "v1", 0, buf);
    ASSERT_FALSE(n.isOk()) << key;
    EXPECT_EQ(n.status().code(), Code::kNotFound) << key << ": " << n.status().toString();
  }
}

TEST_P(OriginContractTest, ReadDirectoryIsIsDirectory) {
  std::vector<std::byte> buf(10);
  for (std::string key : {"", "dir", "dir/sub"}) {
    Result<size_t> n = origin().read(key, "", 0, buf);
    ASSERT_FALSE(n.isOk()) << key;
    EXPECT_EQ(n.status().code(), Code::kIsDirectory) << key << ": " << n.status().toString();
  }
}

TEST_P(OriginContractTest, MalformedKeysAreInvalid) {
  std::vector<std::string> bad = {"/a.txt", "a.txt/", "dir//b.bin", "..", "../a.txt",
                                  "dir/../a.txt", "dir/sub/..", ".", "./a.txt", "dir/.", "/",
                                  std::string("a.txt\0/x", 8)};
  std::string etag = etagOf(origin(), "a.txt");
  std::vector<std::byte> buf(10);
  for (const std::string& key : bad) {
    Result<ObjectInfo> s = origin().stat(key);
    ASSERT_FALSE(s.isOk()) << key;
    EXPECT_EQ(s.status().code(), Code::kInvalid) << key << ": " << s.status().toString();
    Result<std::vector<DirEntry>> l = origin().list(key);
    ASSERT_FALSE(l.isOk()) << key;
    EXPECT_EQ(l.status().code(), Code::kInvalid) << key << ": " << l.status().toString();
    Result<size_t> r = origin().read(key, etag, 0, buf);
    ASSERT_FALSE(r.isOk()) << key;
    EXPECT_EQ(r.status().code(), Code::kInvalid) << key << ": " << r.status().toString();
  }
}

TEST_P(OriginContractTest, ConcurrentReadsAreByteExact) {
  const std::string& bytes = files().at("big.bin");
  std::string etag = etagOf(origin(), "big.bin");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<std::byte> buf(64 * 1024);
      for (int i = 0; i < 100; ++i) {
        uint64_t offset = rng() % bytes.size();
        Result<size_t> n = origin().read("big.bin", etag, offset, buf);
        std::string expected = expectedSlice(bytes, offset, buf.size());
        if (!n.isOk() || *n != expected.size() ||
            std::memcmp(buf.data(), expected.data(), *n) != 0) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace epochfs::origin
