// Files handed out whole (BlockCache::openWhole): the kernel reads the cache's own block file
// (FUSE passthrough), so no read of it reaches us again until the hand-out ends. Hence:
//   - the file is verified in full before it goes out: afterwards nothing checks it;
//   - the hand-out is counted as one hit of the whole file, since its reads will not be;
//   - the block file is pinned: evicting it goes on as usual (index, entry, unlink), the kernel
//     keeps the unlinked file readable, and its space stays counted (SpaceAccount's held
//     bytes) until the last pin on it is released, so that cache.size still holds.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"

namespace epochfs::cache {

std::variant<BlockCache::WholeFile, BlockCache::WholeMiss> BlockCacheImpl::openWhole(
    const FileRef& file) {
  // One block file holds the whole file only when the file is one block.
  if (file.size == 0 || file.size > blockSize()) {
    counters_.wholeTooLarge++;
    return WholeMiss::kTooLarge;
  }
  const std::string key = blockKey(file.key, 0);
  const auto length = static_cast<uint32_t>(file.size);
  PolicyId pid = 0;
  BlockFileId id{};
  std::vector<uint64_t> sums;
  {
    std::lock_guard<std::mutex> g(mu_);
    pid = registerLocked(key, file.key, 0, file.etag, length);
    const Entry* e = cached_.find(pid);
    // An entry of the same version and another length is left to the next read, which
    // drops it (lookupHitLocked): declining is all a hand-out needs.
    if (e == nullptr || cachedEtagLocked(pid, *e) != file.etag || e->length != length) {
      counters_.wholeNotCached++;
      return WholeMiss::kNotCached;
    }
    id = e->file;
    const std::span<const uint64_t> all = e->checksums();
    sums.assign(all.begin(), all.end());
  }

  Result<int> fd = store_->openRead(id);
  std::string why;
  std::optional<WholeMiss> miss;
  if (!fd.isOk()) {
    why = "unreadable: " + fd.status().toString();
    miss = WholeMiss::kNotCached;
  } else {
    miss = verifyWhole(*fd, length, sums, why);
  }
  if (miss) {
    if (fd.isOk()) ::close(*fd);
    if (*miss == WholeMiss::kCorrupt) {
      counters_.checksumFailures++;
      counters_.wholeCorrupt++;
      spdlog::warn("cache: block 0 of '{}' (file {}) failed its checksum; dropping it",
                   file.key, store_->blockPath(id));
      dropIfSame(pid, id);
      return WholeMiss::kCorrupt;
    }
    counters_.wholeNotCached++;
    // Usually evicted under us (the entry is gone already); otherwise its file is missing,
    // of the wrong size or unreadable, and the block is useless, as on the hit path.
    if (dropIfSame(pid, id)) {
      counters_.lostBlocks++;
      spdlog::warn("cache: block 0 of '{}' (file {}) is {}; dropping it", file.key,
                   store_->blockPath(id), why);
    }
    return WholeMiss::kNotCached;
  }

  uint64_t pin = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    const Entry* e = cached_.find(pid);
    // Evicted or replaced while we read it: what we verified is no longer the cache's.
    if (e != nullptr && e->file == id) {
      pin = pinLocked(id, e->allocated());
      noteHitLocked(pid, id, /*inOffset=*/0, length);
    }
  }
  if (pin == 0) {
    ::close(*fd);
    counters_.wholeNotCached++;
    return WholeMiss::kNotCached;
  }
  countHit(length);
  counters_.wholeOpens++;
  counters_.wholeBytes += length;
  return WholeFile{*fd, pin};
}

void BlockCacheImpl::releaseWhole(uint64_t pin) {
  bool known = false;
  bool freed = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto p = pins_.find(pin);
    if (p != pins_.end()) {
      known = true;
      auto f = pinned_.find(p->second);
      assert(f != pinned_.end() && f->second.pins > 0);
      pins_.erase(p);
      if (--f->second.pins == 0) {
        // Still cached: nothing to free, its space counts as cached. Unlinked: the kernel
        // lets go of it now, and so do we.
        if (f->second.unlinked) {
          space_.releasedHeld(f->second.alloc);
          freed = true;
        }
        pinned_.erase(f);
      }
    }
  }
  if (!known) {
    spdlog::debug("cache: releaseWhole of unknown pin {}; ignored", pin);
    return;
  }
  if (freed) prefetcher_.wakeForRoom();
}

std::optional<BlockCache::WholeMiss> BlockCacheImpl::verifyWhole(
    int fd, uint32_t length, std::span<const uint64_t> sums, std::string& why) const {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = std::string("unreadable: fstat: ") + std::strerror(errno);
    return WholeMiss::kNotCached;
  }
  if (static_cast<uint64_t>(st.st_size) != length) {
    why = std::to_string(st.st_size) + " bytes, not " + std::to_string(length);
    return WholeMiss::kNotCached;
  }
  // Chunk by chunk, so that one chunk's buffer per thread does for any block size.
  thread_local std::vector<std::byte> buf(kChecksumChunk);
  assert(sums.size() == chunkCount(length));
  for (size_t i = 0; i < sums.size(); ++i) {
    const uint64_t at = i * kChecksumChunk;
    const auto n = static_cast<size_t>(std::min<uint64_t>(kChecksumChunk, length - at));
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd, buf.data() + done, n - done, static_cast<off_t>(at + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        why = std::string("unreadable: read: ") + std::strerror(errno);
        return WholeMiss::kNotCached;
      }
      if (r == 0) {
        why = "shorter than indexed (" + std::to_string(at + done) + " of " +
              std::to_string(length) + " bytes)";
        return WholeMiss::kNotCached;
      }
      done += static_cast<size_t>(r);
    }
    if (xxh3(std::span<const std::byte>(buf.data(), n)) != sums[i]) return WholeMiss::kCorrupt;
  }
  return std::nullopt;
}

uint64_t BlockCacheImpl::pinLocked(BlockFileId id, uint64_t alloc) {
  const uint64_t pin = nextPin_++;
  pins_.emplace(pin, id);
  Pinned& p = pinned_[id];
  p.pins++;
  p.alloc = alloc;
  return pin;
}

bool BlockCacheImpl::holdIfPinnedLocked(BlockFileId id) {
  auto f = pinned_.find(id);
  if (f == pinned_.end()) return false;
  assert(!f->second.unlinked && "a block file is unlinked once");
  f->second.unlinked = true;
  space_.unlinkedHeld(f->second.alloc);
  return true;
}

}  // namespace epochfs::cache
