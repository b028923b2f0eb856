#include "cache/SpaceAccount.h"

#include <algorithm>
#include <cassert>

#include "config/Options.h"

namespace epochfs::cache {

uint64_t metadataReserve(uint64_t cacheSizeBytes) {
  return std::min(std::max(config::kMiB, cacheSizeBytes / 100), 64 * config::kMiB);
}

SpaceAccount::SpaceAccount(uint64_t limit, uint64_t minFree, uint64_t blockSize)
    : limit_(limit), minFree_(minFree), blockSize_(blockSize), reserve_(metadataReserve(limit)) {}

SpaceAccount::Headroom SpaceAccount::headroom(std::optional<uint64_t> avail) const {
  Headroom h;
  const uint64_t used = cached_ + reserved_ + unlinking_ + held_ + meta_ + reserve_;
  h.limit = static_cast<int64_t>(limit_) - static_cast<int64_t>(used);
  if (avail) {
    // Blocks reserved but not yet written will take their space too; the metadata reserve
    // covers index growth, as it does for cache.size.
    const uint64_t freeNow = *avail - std::min(*avail, reserved_);
    h.disk = static_cast<int64_t>(freeNow) - static_cast<int64_t>(minFree_ + reserve_);
  }
  return h;
}

SpaceAccount::Plan SpaceAccount::plan(uint64_t alloc, std::optional<uint64_t> avail) const {
  Plan p;
  // The metadata alone may leave no room for the block, whatever is evicted.
  if (meta_ + reserve_ + alloc > limit_) return p;
  const Headroom h = headroom(avail);
  const auto need = static_cast<int64_t>(alloc);
  p.possible = true;
  p.toFree = static_cast<uint64_t>(std::max<int64_t>(0, need - h.limit));
  if (h.disk && need > *h.disk) {
    // Evicting our own blocks is the only way to get the space; give up early when even
    // evicting all of them would not do.
    const auto diskShort = static_cast<uint64_t>(need - *h.disk);
    p.possible = diskShort <= cached_;
    p.toFree = std::max(p.toFree, diskShort);
  }
  return p;
}

uint64_t SpaceAccount::room(std::optional<uint64_t> avail) const {
  const Headroom h = headroom(avail);
  const int64_t r = std::min(h.limit, h.disk.value_or(h.limit));
  // Less than a block is no room: a policy told otherwise names blocks that do not fit and
  // cannot be admitted without victims.
  return r < static_cast<int64_t>(blockSize_) ? 0 : static_cast<uint64_t>(r);
}

uint64_t SpaceAccount::overLimit() const {
  return static_cast<uint64_t>(std::max<int64_t>(0, -headroom(std::nullopt).limit));
}

void SpaceAccount::commit(uint64_t alloc) {
  assert(reserved_ >= alloc);
  reserved_ -= alloc;
  cached_ += alloc;
}

void SpaceAccount::release(uint64_t alloc) {
  assert(reserved_ >= alloc);
  reserved_ -= alloc;
}

void SpaceAccount::drop(uint64_t alloc) {
  assert(cached_ >= alloc);
  cached_ -= alloc;
  unlinking_ += alloc;
}

void SpaceAccount::unlinked(uint64_t alloc) {
  assert(unlinking_ >= alloc);
  unlinking_ -= alloc;
}

void SpaceAccount::unlinkedHeld(uint64_t alloc) {
  assert(unlinking_ >= alloc);
  unlinking_ -= alloc;
  held_ += alloc;
}

void SpaceAccount::releasedHeld(uint64_t alloc) {
  assert(held_ >= alloc);
  held_ -= alloc;
}

}  // namespace epochfs::cache
