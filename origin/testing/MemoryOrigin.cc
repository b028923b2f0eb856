// origin/testing/MemoryOrigin.cc: a sorted map of file keys; directories are key prefixes.
#include "origin/testing/MemoryOrigin.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace epochfs::origin {
namespace {

// All keys below directory `key` start with this.
std::string dirPrefix(std::string_view key) {
  return key.empty() ? std::string() : std::string(key) + "/";
}

// A misused test double must not quietly hold a tree no real origin can: checked in every
// build type (assert() is off in RelWithDebInfo).
[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "MemoryOrigin misuse: %s\n", why.c_str());
  std::abort();
}

}  // namespace

void MemoryOrigin::put(const std::string& key, std::string bytes) {
  if (key.empty() || !checkKey(key).isOk()) die("put() of a malformed key \"" + key + "\"");
  std::lock_guard lock(mu_);
  auto below = files_.lower_bound(key + "/");
  if (below != files_.end() && below->first.starts_with(key + "/")) {
    die("put() of \"" + key + "\", which is already a directory");
  }
  for (size_t slash = key.find('/'); slash != std::string::npos; slash = key.find('/', slash + 1)) {
    if (files_.contains(key.substr(0, slash))) {
      die("put() of \"" + key + "\" below the file \"" + key.substr(0, slash) + "\"");
    }
  }
  File& f = files_[key];
  f.bytes = std::move(bytes);
  f.etag = "v" + std::to_string(nextVersion_++);
}

bool MemoryOrigin::remove(const std::string& key) {
  std::lock_guard lock(mu_);
  return files_.erase(key) > 0;
}

uint64_t MemoryOrigin::readCalls() const {
  std::lock_guard lock(mu_);
  return readCalls_;
}

Result<ObjectInfo> MemoryOrigin::stat(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  std::lock_guard lock(mu_);
  if (auto it = files_.find(key); it != files_.end()) {
    return ObjectInfo{EntryType::kFile, it->second.bytes.size(), it->second.etag, 0};
  }
  std::string prefix = dirPrefix(key);
  auto it = files_.lower_bound(prefix);
  if (key.empty() || (it != files_.end() && it->first.starts_with(prefix))) {
    return ObjectInfo{EntryType::kDirectory, 0, "", 0};
  }
  return notFound("memory: no such key: " + std::string(key));
}

Result<std::vector<DirEntry>> MemoryOrigin::list(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  std::lock_guard lock(mu_);
  if (files_.contains(key)) {
    return Status(Code::kNotDirectory, "memory: not a directory: " + std::string(key));
  }
  std::string prefix = dirPrefix(key);
  std::vector<DirEntry> entries;
  auto it = files_.lower_bound(prefix);
  // Keys with a common prefix are contiguous in the sorted map.
  while (it != files_.end() && it->first.starts_with(prefix)) {
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      entries.push_back(DirEntry{std::string(rest),
                                 {EntryType::kFile, it->second.bytes.size(), it->second.etag, 0}});
      ++it;
      continue;
    }
    std::string name(rest.substr(0, slash));
    entries.push_back(DirEntry{name, {EntryType::kDirectory, 0, "", 0}});
    // Skip everything below this subdirectory: '0' is the byte after '/'.
    it = files_.lower_bound(prefix + name + "0");
  }
  if (entries.empty() && !key.empty()) {
    return notFound("memory: no such directory: " + std::string(key));
  }
  // Map order is by whole key, so "a/x" sorts after "a+b"; entry names need their own sort.
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

Result<size_t> MemoryOrigin::read(std::string_view key, std::string_view etag, uint64_t offset,
                                  std::span<std::byte> out) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  std::lock_guard lock(mu_);
  ++readCalls_;
  auto it = files_.find(key);
  if (it == files_.end()) {
    std::string prefix = dirPrefix(key);
    auto below = files_.lower_bound(prefix);
    if (key.empty() || (below != files_.end() && below->first.starts_with(prefix))) {
      return Status(Code::kIsDirectory, "memory: is a directory: " + std::string(key));
    }
    return notFound("memory: no such key: " + std::string(key));
  }
  const File& f = it->second;
  if (f.etag != etag) {
    return stale("memory: " + std::string(key) + " changed (etag " + std::string(etag) +
                 ", now " + f.etag + ")");
  }
  if (offset >= f.bytes.size()) return size_t{0};
  size_t n = std::min<uint64_t>(out.size(), f.bytes.size() - offset);
  if (n > 0) std::memcpy(out.data(), f.bytes.data() + offset, n);  // out may be empty/null
  return n;
}

}  // namespace epochfs::origin
