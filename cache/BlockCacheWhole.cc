// Files handed out whole (BlockCache::openWhole): the kernel reads the cache's own file (FUSE
// passthrough), a block file for a file of one block, else the version's object file, so no
// read of it reaches us again until the hand-out ends. Hence:
//   - the file is verified in full before it goes out (at every hand-out; with
//     verifyHandOutsOnce, at the first of each cached version in this run): afterwards
//     nothing checks it;
//   - the hand-out is counted as a hit of every block, since their reads will not be;
//   - the file is pinned: evicting goes on as usual (index, entry, unlink of a block file),
//     the kernel keeps an unlinked file readable, a block dropped from an object file keeps
//     its range until the last pin (punching it would show the kernel zeros), and their space
//     stays counted (SpaceAccount's held bytes) until then, so that cache.size still holds.
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
  if (file.size == 0) {  // nothing for the kernel to read; FUSE answers it at once
    counters_.wholeTooLarge++;
    return WholeMiss::kTooLarge;
  }
  // At the file's grain (Grain.h): a file read at random is handed out once all its small
  // blocks are cached, in their own object file.
  const unsigned shift = shiftOfFile(file);
  const uint64_t bs = shift == 0 ? blockSize() : uint64_t{1} << shift;
  const uint64_t nblocks = (file.size + bs - 1) / bs;
  // One cache file holds the whole file when it is one block, or when its blocks are in its
  // version's object file; a filesystem that cannot punch holes gives every block a file.
  if (nblocks > 1 && !store_->punchesHoles()) {
    counters_.wholeTooLarge++;
    return WholeMiss::kTooLarge;
  }
  BlockFileId id{};
  bool verifiedEarlier = opts_.verifyHandOutsOnce;  // every block verified at an earlier hand-out
  std::vector<WholeBlock> blocks(static_cast<size_t>(nblocks));
  {
    std::lock_guard<std::mutex> g(mu_);
    for (uint64_t j = 0; j < nblocks; ++j) {
      WholeBlock& w = blocks[static_cast<size_t>(j)];
      const uint64_t no = grain::make(shift, j);
      w.length = static_cast<uint32_t>(std::min(file.size, (j + 1) * bs) - j * bs);
      w.pid = registerLocked(blockKey(file.key, no), file.key, no, file.etag, w.length);
      const Entry* e = cached_.find(w.pid);
      // An entry of the same version and another length is left to the next read, which
      // drops it (lookupHitLocked): declining is all a hand-out needs.
      if (e == nullptr || cachedEtagLocked(w.pid, *e) != file.etag || e->length != w.length) {
        counters_.wholeNotCached++;
        return WholeMiss::kNotCached;
      }
      if (j == 0) id = e->file;
      if (e->file != id || (nblocks > 1 && !e->object)) {
        // Blocks cached in files of their own (an older cache, or a block refilled into a
        // new object file after its version's old one emptied): a read of each is a hit.
        counters_.wholeTooLarge++;
        return WholeMiss::kTooLarge;
      }
      w.at = fileOffset(e->object, no);
      verifiedEarlier = verifiedEarlier && e->verified;
      const std::span<const uint64_t> all = e->checksums();
      w.sums.assign(all.begin(), all.end());
    }
  }

  Result<int> fd = store_->openRead(id);
  std::string why;
  size_t bad = 0;  // of a kCorrupt: the block that failed
  std::optional<WholeMiss> miss;
  if (!fd.isOk()) {
    why = "unreadable: " + fd.status().toString();
    miss = WholeMiss::kNotCached;
  } else if (verifiedEarlier) {
    miss = checkSize(*fd, file.size, why);
  } else {
    miss = verifyWhole(*fd, file.size, blocks, why, bad);
  }
  if (miss) {
    if (fd.isOk()) ::close(*fd);
    // Only the block that failed is dropped: the next read refetches it, the next open hands
    // the file out again. A block evicted from an object file while we read it reads as a
    // hole (zeros): only one still cached there is corrupt.
    if (*miss == WholeMiss::kCorrupt && dropIfSame(blocks[bad].pid, id)) {
      counters_.checksumFailures++;
      counters_.wholeCorrupt++;
      spdlog::warn("cache: block {} of '{}' (file {}) failed its checksum: {}; dropping it",
                   bad, file.key, store_->blockPath(id), why);
      return *miss;
    }
    if (*miss == WholeMiss::kCorrupt) {
      counters_.wholeNotCached++;
      return WholeMiss::kNotCached;
    }
    counters_.wholeNotCached++;
    // Usually evicted under us (the entries are gone already); otherwise the file is missing,
    // of the wrong size or unreadable, and what is in it is useless, as on the hit path. Each
    // block is dropped only if still cached in that file.
    uint64_t dropped = 0;
    for (const WholeBlock& w : blocks) dropped += dropIfSame(w.pid, id) ? 1 : 0;
    if (dropped > 0) {
      counters_.lostBlocks += dropped;
      spdlog::warn("cache: '{}' (file {}) is {}; dropping its blocks", file.key,
                   store_->blockPath(id), why);
    }
    return *miss;
  }

  uint64_t pin = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    // Evicted or replaced while we read it: what we verified is no longer the cache's.
    const bool same = std::all_of(blocks.begin(), blocks.end(), [&](const WholeBlock& w) {
      const Entry* e = cached_.find(w.pid);
      return e != nullptr && e->file == id;
    });
    if (same) {
      pin = pinLocked(id);
      for (const WholeBlock& w : blocks) {
        cached_.find(w.pid)->verified = true;
        noteHitLocked(w.pid, id, /*inOffset=*/0, w.length);
      }
    }
  }
  if (pin == 0) {
    ::close(*fd);
    counters_.wholeNotCached++;
    return WholeMiss::kNotCached;
  }
  for (const WholeBlock& w : blocks) countHit(w.length);
  counters_.wholeOpens++;
  if (verifiedEarlier) {
    counters_.wholeTrusted++;
  } else {
    counters_.wholeBytes += file.size;
  }
  return WholeFile{*fd, pin};
}

void BlockCacheImpl::releaseWhole(uint64_t pin) {
  bool known = false;
  bool freed = false;
  Doomed unlinkLater;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto p = pins_.find(pin);
    if (p != pins_.end()) {
      known = true;
      const BlockFileId id = p->second;
      auto f = pinned_.find(id);
      assert(f != pinned_.end() && f->second.pins > 0);
      pins_.erase(p);
      if (--f->second.pins == 0) {
        // Still cached: nothing to free, its space counts as cached. Blocks dropped
        // meanwhile (or the whole file, unlinked): the kernel lets go of them now, and so do
        // we; the ranges of an object file still in use are punched out now, unless cached in
        // it again meanwhile (the same bytes: their version's).
        const bool live = objects_.contains(id);
        for (const auto& [blockNo, pid] : f->second.deferred) {
          const Entry* e = cached_.find(pid);
          if (!live || (e != nullptr && e->file == id) || punching_.contains({id, blockNo})) continue;
          punching_.insert({id, blockNo});
          unlinkLater.push_back({id, 0, blockBytes(blockNo), fileOffset(true, blockNo), blockNo});
        }
        if (f->second.held > 0) {
          space_.releasedHeld(f->second.held);
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
  unlinkAll(unlinkLater);
  if (freed) prefetcher_.wakeForRoom();
}

std::optional<BlockCache::WholeMiss> BlockCacheImpl::checkSize(int fd, uint64_t size,
                                                               std::string& why) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = std::string("unreadable: fstat: ") + std::strerror(errno);
    return WholeMiss::kNotCached;
  }
  if (static_cast<uint64_t>(st.st_size) != size) {
    why = std::to_string(st.st_size) + " bytes, not " + std::to_string(size);
    return WholeMiss::kNotCached;
  }
  return std::nullopt;
}

std::optional<BlockCache::WholeMiss> BlockCacheImpl::verifyWhole(
    int fd, uint64_t size, const std::vector<WholeBlock>& blocks, std::string& why,
    size_t& bad) const {
  if (std::optional<WholeMiss> miss = checkSize(fd, size, why)) return miss;
  // The kernel reads this file next: have it read ahead of our own reads.
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Chunk by chunk, so that one chunk's buffer per thread does for any size.
  thread_local std::vector<std::byte> buf(kChecksumChunk);
  for (size_t k = 0; k < blocks.size(); ++k) {
    const WholeBlock& w = blocks[k];
    assert(w.sums.size() == chunkCount(w.length));
    for (size_t i = 0; i < w.sums.size(); ++i) {
      const uint64_t in = i * kChecksumChunk;
      const uint64_t at = w.at + in;
      const auto n = static_cast<size_t>(std::min<uint64_t>(kChecksumChunk, w.length - in));
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
                std::to_string(size) + " bytes)";
          return WholeMiss::kNotCached;
        }
        done += static_cast<size_t>(r);
      }
      if (xxh3(std::span<const std::byte>(buf.data(), n)) != w.sums[i]) {
        why = "the chunk at byte " + std::to_string(at) + " differs";
        bad = k;
        return WholeMiss::kCorrupt;
      }
    }
  }
  return std::nullopt;
}

uint64_t BlockCacheImpl::pinLocked(BlockFileId id) {
  const uint64_t pin = nextPin_++;
  pins_.emplace(pin, id);
  pinned_[id].pins++;
  return pin;
}

bool BlockCacheImpl::holdIfPinnedLocked(BlockFileId id, uint64_t alloc) {
  auto f = pinned_.find(id);
  if (f == pinned_.end()) return false;
  f->second.held += alloc;
  space_.unlinkedHeld(alloc);
  return true;
}

}  // namespace epochfs::cache
