// Listing-driven prefetch: the first open in a directory hands the directory's files to the
// cache as prefetch candidates, listed on a prefetch worker (cache/Prefetcher).
#include <spdlog/spdlog.h>

#include "fs/FileSystem.h"

namespace epochfs::fs {

void FileSystem::discoverDirOf(const std::string& fileKey) {
  if (!opts_.policy.prefetchListed || opts_.policy.prefetchThreads == 0) return;
  const std::string_view dir = origin::splitKey(fileKey).first;
  {
    std::lock_guard<std::mutex> g(discoverMu_);
    if (discoveredDirs_.contains(dir)) return;
    discoveredDirs_.emplace(dir);
  }
  cache_.discoverLater([this, d = std::string(dir)] { return listForDiscovery(d); });
}

std::vector<cache::FileRef> FileSystem::listForDiscovery(const std::string& dir) {
  std::vector<cache::FileRef> files;
  auto entries = ns_.list(dir);
  if (!entries.isOk()) {
    // Only prefetch is lost: reads go on. Not retried before a refresh.
    spdlog::warn("listing-driven prefetch: cannot list '{}': {}", dir,
                 entries.status().toString());
    return files;
  }
  files.reserve(entries->size());
  for (const origin::DirEntry& e : *entries) {
    if (e.info.type != origin::EntryType::kFile || e.info.size == 0) continue;
    files.push_back(cache::FileRef{origin::joinKey(dir, e.name), e.info.etag, e.info.size});
  }
  return files;
}

}  // namespace epochfs::fs
