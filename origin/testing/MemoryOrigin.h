// origin/testing/MemoryOrigin.h: a working in-memory Origin for unit tests.
//
// Directories are implied by the keys of the files put into it ("a/b/c.jpg" makes "a" and
// "a/b"); put() of an existing key replaces its bytes and gives it a new etag ("v1", "v2", ...
// from one counter, so an etag is never reused). stat("") is the root directory, even when
// empty; list() of a file key is kNotDirectory; read() of a directory is kIsDirectory. mtimeNs
// is always 0. Passes the same contract suite as PosixOrigin (origin/tests/).
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "origin/Origin.h"

namespace epochfs::origin {

class MemoryOrigin final : public Origin {
 public:
  MemoryOrigin() = default;

  // Adds or replaces file `key` (a well-formed, non-empty key). Aborts if `key` is already a
  // directory or lies below a file: a real origin cannot hold such a tree.
  void put(const std::string& key, std::string bytes);
  // Removes file `key`; false if there was none.
  bool remove(const std::string& key);
  // Number of read() calls so far, failed ones included.
  uint64_t readCalls() const;

  std::string describe() const override { return "memory:"; }
  Result<ObjectInfo> stat(std::string_view key) override;
  Result<std::vector<DirEntry>> list(std::string_view key) override;
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override;

 private:
  struct File {
    std::string bytes;
    std::string etag;
  };
  mutable std::mutex mu_;  // guards all below
  std::map<std::string, File, std::less<>> files_;
  uint64_t nextVersion_ = 1;
  uint64_t readCalls_ = 0;
};

}  // namespace epochfs::origin
