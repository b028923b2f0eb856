// A file found read at random (FileGrains.h) is cut at its grain from then on. What the cache
// holds of it in blocks of cache.block_size (fetched while its reads were being followed) is
// cut into grains from the SSD, so that no byte of it is fetched from the origin again: each
// such block is read and verified, dropped, and its grains are filled as blocks no read has
// asked for yet (BlockRead::unread), into the room it leaves.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"

namespace epochfs::cache {

void BlockCacheImpl::recutWholeBlocksOf(const FileRef& f, std::string_view why) {
  const unsigned shift = grains_.shiftOf(f.key);
  if (shift == 0) return;
  uint64_t cut = 0;
  for (uint64_t no = 0; no * blockSize() < f.size; ++no) {
    if (recutBlock(f.key, f.etag, no, shift)) ++cut;
  }
  spdlog::info("cache: '{}' {}: cut into blocks of {} KiB ({} cached block(s) of "
               "cache.block_size cut to that size)",
               f.key, why, (uint64_t{1} << shift) >> 10, cut);
}

void BlockCacheImpl::recutIfRegrained(std::string_view fileKey, const std::string& etag,
                                      uint64_t blockNo) {
  if (grain::shiftOf(blockNo) != 0) return;
  const unsigned shift = grains_.shiftOf(fileKey);
  if (shift != 0) recutBlock(fileKey, etag, blockNo, shift);
}

bool BlockCacheImpl::recutBlock(std::string_view fileKey, const std::string& etag, uint64_t no,
                                unsigned shift) {
  const std::string key = blockKey(fileKey, no);
  PolicyId pid = 0;
  BlockFileId id{};
  uint64_t at = 0;
  uint32_t length = 0;
  std::vector<uint64_t> sums;
  {
    std::lock_guard<std::mutex> g(mu_);
    const std::optional<PolicyId> found = registry_.find(key);
    if (!found) return false;
    const Entry* e = cached_.find(*found);
    if (e == nullptr || cachedEtagLocked(*found, *e) != etag) return false;
    pid = *found;
    id = e->file;
    at = fileOffset(e->object, no);
    length = e->length;
    const std::span<const uint64_t> all = e->checksums();
    sums.assign(all.begin(), all.end());
  }
  std::vector<std::byte> bytes(length);
  Result<size_t> got = store_->pread(id, at, bytes, 0);
  const bool good = got.isOk() && *got == length && verifyChunks(sums, 0, bytes);
  // A block that does not read back whole or verify is only dropped: its grains are fetched
  // when read, as any miss. The grains are filled before the block goes, so that a reader
  // never finds neither (and fetches again what the cache held).
  if (good) fillGrains(fileKey, etag, no, shift, bytes);
  Doomed unlinkLater;
  {
    std::lock_guard<std::mutex> g(mu_);
    const Entry* e = cached_.find(pid);
    if (e != nullptr && e->file == id) dropLocked(pid, unlinkLater);
  }
  unlinkAll(unlinkLater);
  return good;
}

void BlockCacheImpl::fillGrains(std::string_view fileKey, const std::string& etag, uint64_t no,
                                unsigned shift, const std::vector<std::byte>& bytes) {
  const auto length = static_cast<uint32_t>(bytes.size());
  const uint64_t gbytes = uint64_t{1} << shift;
  const uint64_t start = no * blockSize();
  const uint64_t end = start + length;
  // The grains wholly inside the block (a block size that is no multiple of the grain leaves
  // parts of grains at its ends: those are fetched when read).
  for (uint64_t gi = (start + gbytes - 1) / gbytes; gi * gbytes < end; ++gi) {
    const uint64_t gstart = gi * gbytes;
    // A short block is the file's last: its last grain ends with it.
    if (gstart + gbytes > end && length == blockSize()) break;
    const uint64_t gend = std::min(gstart + gbytes, end);
    const uint64_t off = gstart - start;
    const uint64_t gno = grain::make(shift, gi);
    const auto glen = static_cast<uint32_t>(gend - gstart);
    const std::string gkey = blockKey(fileKey, gno);
    PolicyId gpid = 0;
    {
      std::lock_guard<std::mutex> g(mu_);
      gpid = registerLocked(gkey, fileKey, gno, etag, glen);
      if (cached_.find(gpid) != nullptr) continue;  // cached meanwhile
    }
    FetchedBlock block;
    block.size = glen;
    block.bytes = std::make_unique_for_overwrite<std::byte[]>(glen);
    std::memcpy(block.bytes.get(), bytes.data() + off, glen);
    BlockRead br{fileKey, etag, gno, gkey, glen, 0, {}};
    br.unread = true;
    fill(br, block, gpid);
  }
}

}  // namespace epochfs::cache
