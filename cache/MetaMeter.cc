#include "cache/MetaMeter.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cache/BlockStore.h"

namespace epochfs::cache {

uint64_t MetaMeter::measure() const {
  uint64_t total = ownBytes_();
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir_, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name == "index" || name == "blocks" || name == "tmp") continue;
    auto addFile = [&](const std::filesystem::path& p) {
      struct stat st {};
      if (::lstat(p.c_str(), &st) == 0) {
        total += std::max<uint64_t>(static_cast<uint64_t>(st.st_blocks) * 512,
                                    BlockStore::allocatedBytes(static_cast<uint64_t>(st.st_size)));
      }
    };
    addFile(it->path());
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      for (auto sub = std::filesystem::recursive_directory_iterator(it->path(), ec);
           !ec && sub != std::filesystem::recursive_directory_iterator(); sub.increment(ec)) {
        addFile(sub->path());
      }
    }
  }
  return total;
}

std::optional<uint64_t> MetaMeter::measureIfDue(bool force) {
  constexpr int64_t kRefreshNs = 1'000'000'000;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (!force && now - lastNs_.load() < kRefreshNs && insertsSince_.load() < kRefreshInserts) {
    return std::nullopt;
  }
  if (measuring_.exchange(true)) return std::nullopt;
  const uint64_t bytes = measure();
  lastNs_ = now;
  insertsSince_ = 0;
  measuring_ = false;
  return bytes;
}

}  // namespace epochfs::cache
