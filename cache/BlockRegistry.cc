#include "cache/BlockRegistry.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "cache/Grain.h"
#include "cache/Index.h"

namespace epochfs::cache {
namespace {

// Repeats are not news: the policy and the epoch clock see one read of a block where a reader
// issued several. A read is a repeat when it continues the block's previous read (it starts
// further into the block: the next 128 KiB FUSE read of a large block, however many other
// readers' reads came in between), or when the block was read within the last few reads (a
// reader that joined a fetch in flight, a duplicate). The next epoch's read of a block starts
// at or before where the last one did. The window is capped at 1/8 of the blocks seen, so that
// a small dataset's next epoch is never taken for repeats.
constexpr uint64_t kRepeatWindow = 16;

}  // namespace

BlockRegistry::Registration BlockRegistry::add(const std::string& key, std::string_view fileKey,
                                               uint64_t blockNo, const std::string& etag,
                                               uint32_t length) {
  assert(key == blockKey(fileKey, blockNo));
  return insertOrUpdate(key, static_cast<uint32_t>(fileKey.size()), blockNo, etag, length);
}

BlockRegistry::Registration BlockRegistry::addByKey(const std::string& key,
                                                    const std::string& etag, uint32_t length) {
  const std::optional<BlockKeyParts> parts = parseBlockKey(key);
  assert(parts);
  return insertOrUpdate(key, static_cast<uint32_t>(parts->fileKey.size()), parts->blockNo, etag,
                        length);
}

BlockRegistry::Registration BlockRegistry::insertOrUpdate(const std::string& key, uint32_t fileKeyLength,
                                                          uint64_t blockNo,
                                                          const std::string& etag,
                                                          uint32_t length) {
  Registration r;
  auto [it, inserted] = ids_.try_emplace(key, blocks_.size() + 1);
  r.id = it->second;
  r.added = inserted;
  if (inserted) {
    Block b;
    b.key = &it->first;
    b.etag = etag;
    b.blockNo = blockNo;
    b.length = length;
    b.fileKeyLength = fileKeyLength;
    blocks_.push_back(std::move(b));
    return r;
  }
  Block& b = blocks_[r.id - 1];
  if (b.etag != etag) {
    r.replacedEtag = std::exchange(b.etag, etag);
    b.prefetchFailed = false;
  }
  b.length = length;
  return r;
}

bool BlockRegistry::noteRead(PolicyId id, uint64_t inOffset, uint64_t length) {
  Block& b = at(id);
  b.prefetchedUnread = false;
  ++readSeq_;
  if (grain::shiftOf(b.blockNo) != 0) {
    // A grain: read when both its ends have been, since it was last read.
    b.headRead = b.headRead || inOffset == 0;
    b.tailRead = b.tailRead || inOffset + length >= b.length;
    const bool read = b.headRead && b.tailRead;
    if (read) b.headRead = b.tailRead = false;
    b.lastReadSeq = readSeq_;
    b.lastInOffset = static_cast<uint32_t>(inOffset);
    return read;
  }
  const uint64_t window = std::min<uint64_t>(kRepeatWindow, blocks_.size() / 8);
  const bool repeat = b.lastReadSeq != 0 &&
                      (inOffset > b.lastInOffset || readSeq_ - b.lastReadSeq <= window);
  b.lastReadSeq = readSeq_;
  b.lastInOffset = static_cast<uint32_t>(inOffset);
  return !repeat;
}

}  // namespace epochfs::cache
