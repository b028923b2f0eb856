// cache/tests/CacheTestUtil.h: scratch dirs, random bytes and disk-usage measurement for the
// cache tests.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "common/testing/TempDir.h"

namespace epochfs::cache::testing {

using ::epochfs::test::TempDir;

inline std::string randomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(rng() & 0xff);
  return s;
}

inline std::span<const std::byte> asBytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

inline std::string toString(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// What `path` really occupies on disk: st_blocks * 512 of it and of everything below it,
// directories included.
inline uint64_t diskUsage(const std::string& path) {
  uint64_t total = 0;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

inline size_t countFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

// The `blockSize` slots of file `path` that hold allocated bytes (SEEK_DATA): the blocks of an
// object file (BlockStore.h) on disk.
inline size_t countBlocksInFile(const std::string& path, uint64_t blockSize) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t n = 0;
  uint64_t lastSlot = UINT64_MAX;
  for (off_t at = 0;;) {
    const off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) break;
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole <= data) break;
    for (uint64_t b = static_cast<uint64_t>(data) / blockSize;
         b * blockSize < static_cast<uint64_t>(hole); ++b) {
      if (b != lastSlot) ++n;
      lastSlot = b;
    }
    at = hole;
  }
  ::close(fd);
  return n;
}

// The cached blocks on disk under `path` (a cache's blocks/, or one file of it): a block file
// is one; an object file one per slot with allocated bytes (countBlocksInFile).
inline size_t countBlocks(const std::string& path, uint64_t blockSize) {
  if (std::filesystem::is_regular_file(path)) return countBlocksInFile(path, blockSize);
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) n += countBlocksInFile(it->path().string(), blockSize);
  }
  return n;
}

inline std::vector<std::string> filesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path().string());
  }
  return out;
}

// Flips one byte (at `at`) of the only block file in cache dir `cacheDir`.
inline void corruptOnlyBlock(const std::string& cacheDir, uint64_t at) {
  auto blocks = filesUnder(cacheDir + "/blocks");
  ASSERT_EQ(blocks.size(), 1u);
  std::fstream f(blocks[0], std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x20));
  ASSERT_TRUE(f.good());
}

}  // namespace epochfs::cache::testing
