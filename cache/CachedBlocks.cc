#include "cache/CachedBlocks.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace epochfs::cache {

CachedBlocks::Entry::Entry(BlockFileId fileId, uint32_t len, std::unique_ptr<std::string> etag,
                           std::span<const uint64_t> checksums, bool inObject)
    : file(fileId), length(len), object(inObject), ownEtag(std::move(etag)) {
  assert(checksums.size() == chunkCount(len));
  if (checksums.size() == 1) {
    sum0 = checksums[0];
  } else if (checksums.size() > 1) {
    sums = std::make_unique<uint64_t[]>(checksums.size());
    std::copy(checksums.begin(), checksums.end(), sums.get());
  }
}

CachedBlocks::Entry* CachedBlocks::find(PolicyId id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

const CachedBlocks::Entry* CachedBlocks::find(PolicyId id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

void CachedBlocks::insert(PolicyId id, Entry e) {
  const BlockFileId file = e.file;
  const bool added = entries_.emplace(id, std::move(e)).second;
  const bool fileAdded = byFile_.emplace(file, id).second;
  assert(added && fileAdded);
  (void)added;
  (void)fileAdded;
}

void CachedBlocks::erase(PolicyId id) {
  auto it = entries_.find(id);
  assert(it != entries_.end());
  byFile_.erase({it->second.file, id});
  entries_.erase(it);
}

std::optional<PolicyId> CachedBlocks::oldest() const {
  if (byFile_.empty()) return std::nullopt;
  return byFile_.begin()->second;
}

void CachedBlocks::onNewVersion(PolicyId id, std::string previous, const std::string& etag) {
  Entry* e = find(id);
  if (e == nullptr) return;
  if (!e->ownEtag) {
    e->ownEtag = std::make_unique<std::string>(std::move(previous));
  } else if (*e->ownEtag == etag) {
    e->ownEtag.reset();
  }
}

}  // namespace epochfs::cache
