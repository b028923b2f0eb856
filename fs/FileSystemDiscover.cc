// Listing-driven prefetch: the first open in a directory hands the directory's files to the
// cache as prefetch candidates, from a background thread.
#include <spdlog/spdlog.h>

#include "fs/FileSystem.h"

namespace epochfs::fs {

void FileSystem::discoverDirOf(const std::string& fileKey) {
  if (!opts_.policy.prefetchListed || opts_.policy.prefetchThreads == 0) return;
  const std::string_view dir = origin::splitKey(fileKey).first;
  {
    std::lock_guard<std::mutex> g(discoverMu_);
    if (discoverStop_ || discoveredDirs_.contains(dir)) return;
    discoveredDirs_.emplace(dir);
    discoverQueue_.emplace_back(dir);
    if (!discoverer_.joinable()) discoverer_ = std::thread([this] { discoverLoop(); });
  }
  discoverCv_.notify_one();
}

void FileSystem::discoverLoop() {
  std::unique_lock<std::mutex> lk(discoverMu_);
  for (;;) {
    discoverCv_.wait(lk, [&] { return discoverStop_ || !discoverQueue_.empty(); });
    if (discoverStop_) return;
    const std::string dir = std::move(discoverQueue_.front());
    discoverQueue_.pop_front();
    lk.unlock();
    auto entries = ns_.list(dir);
    if (entries.isOk()) {
      std::vector<cache::FileRef> files;
      files.reserve(entries->size());
      for (const origin::DirEntry& e : *entries) {
        if (e.info.type != origin::EntryType::kFile || e.info.size == 0) continue;
        files.push_back(cache::FileRef{origin::joinKey(dir, e.name), e.info.etag, e.info.size});
      }
      cache_.discover(files);
    } else {
      // Only prefetch is lost: reads go on. Not retried before a refresh.
      spdlog::warn("listing-driven prefetch: cannot list '{}': {}", dir,
                   entries.status().toString());
    }
    lk.lock();
  }
}

void FileSystem::stopDiscovery() {
  {
    std::lock_guard<std::mutex> g(discoverMu_);
    discoverStop_ = true;
  }
  discoverCv_.notify_all();
  if (discoverer_.joinable()) discoverer_.join();
}

}  // namespace epochfs::fs
