// The read path: split a read into blocks; register each (its stable policy id) and serve it
// from the SSD (verified) or from a single-flight origin fetch.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"
#include "cache/Checksum.h"

namespace epochfs::cache {
namespace {

using SteadyClock = std::chrono::steady_clock;

uint64_t nsSince(SteadyClock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - t0).count());
}

}  // namespace

// The chunk-aligned range of a block that a hit reads and verifies, and the sums of its
// chunks, copied under the lock (the entry may go once it is released): on the stack for
// reads of up to 1 MiB (FUSE's largest, 9 chunks when unaligned), which is every read but a
// test's.
struct BlockCacheImpl::HitPlan {
  BlockFileId id{};
  uint64_t base = 0;  // where the block starts in its file
  uint64_t start = 0;
  uint64_t end = 0;
  std::array<uint64_t, 9> few{};
  std::vector<uint64_t> many;
  std::span<uint64_t> sums;

  explicit HitPlan(const BlockRead& br) {
    const uint64_t firstChunk = br.inOffset / kChecksumChunk;
    start = firstChunk * kChecksumChunk;
    end = std::min<uint64_t>(br.length, (br.inOffset + br.out.size() + kChecksumChunk - 1) /
                                            kChecksumChunk * kChecksumChunk);
    const auto n = static_cast<size_t>((end - start + kChecksumChunk - 1) / kChecksumChunk);
    sums = std::span<uint64_t>(few.data(), std::min(n, few.size()));
    if (n > few.size()) {
      many.resize(n);
      sums = many;
    }
  }
};

Result<size_t> BlockCacheImpl::read(const FileRef& file, uint64_t offset,
                                    std::span<std::byte> out) {
  if (offset >= file.size || out.empty()) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), file.size - offset));
  // A large file may be read at random: then it is cut at its grain (FileGrains.h).
  unsigned shift = 0;
  bool counts = true;
  bool atEnd = false;  // a block's read counts at its end (a file read in order, or learned)
  const bool followed = grains_.follows(file.size);
  if (followed) {
    const FileGrains::Grain g = grains_.onRead(file.key, file.size, offset, n);
    if (g.switched) recutWholeBlocksOf(file, "is read at random");
    shift = g.shift;
    // A file read in order (a shard streamed by several readers at once, whose requests the
    // kernel's read-ahead and the FUSE threads reorder within a block): a block is read when
    // the read reaching its end is, once per pass, whatever the order of the rest; until
    // then it is cached unread, no victim while a stream is in it. So is a block of a file
    // being learned (a stream's or a random reader's: either reads one block's end once per
    // pass), so that the rule does not change under a stream when its file is found
    // sequential. A stream that stops short of a block's end leaves it uncounted (and
    // cached unread): tar's last zero blocks are read by the kernel's read-ahead.
    counts = !g.learning && !g.sequential;
    atEnd = !counts;
  }
  uint64_t bs = shift == 0 ? blockSize() : uint64_t{1} << shift;
  size_t pos = 0;
  while (pos < n) {
    uint64_t at = offset + pos;
    uint64_t index = at / bs;
    uint64_t blockNo = grain::make(shift, index);
    uint64_t blockStart = index * bs;
    uint64_t blockLen = std::min(file.size, blockStart + bs) - blockStart;
    uint64_t inOffset = at - blockStart;
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - pos, blockLen - inOffset));
    const std::string key = blockKey(file.key, blockNo);
    BlockRead br{file.key, file.etag, blockNo, key, static_cast<uint32_t>(blockLen),
                 inOffset, out.subspan(pos, len),
                 counts || (atEnd ? inOffset + len == blockLen : inOffset == 0)};
    br.countsAtEnd = atEnd;
    br.followed = followed;
    // A failed block fails the whole read: fs/ turns it into an errno and the reader retries;
    // returning the bytes before it would only hide the error for one call.
    bool regrained = false;
    EPOCHFS_RETURN_IF_ERROR(readBlock(br, regrained));
    if (regrained) {
      // Another reader found the file random meanwhile: the rest at its grain.
      shift = grains_.shiftOf(file.key);
      bs = shift == 0 ? blockSize() : uint64_t{1} << shift;
      counts = true;
      atEnd = false;
      continue;
    }
    pos += len;
  }
  return n;
}

Status BlockCacheImpl::readBlock(const BlockRead& br, bool& regrained) {
  PolicyId pid = 0;  // registered by the first tryHit, in the same hold of the lock as its lookup
  // A block can be filled (and its fetch retired) between our miss and readMiss() taking
  // the lock: readMiss() then sends us back for the hit instead of fetching it again. It
  // also does when the prefetch it waited for failed.
  // What this block read waited for, over all attempts (a failed one included: its reader
  // waited too).
  Stall stall;
  for (int attempt = 0;; ++attempt) {
    if (tryHit(br, pid) == HitOutcome::kServed) break;
    if (grain::shiftOf(br.blockNo) != 0 && hitInWholeBlock(br)) break;
    bool cachedMeanwhile = false;
    Status st = readMiss(br, pid, /*mayRetry=*/attempt < 2, cachedMeanwhile, regrained, stall);
    if (regrained) return Status::ok();
    if (!cachedMeanwhile) {
      if (stall.total() > 0) recordStall(stall);
      return st;
    }
  }
  if (stall.total() > 0) recordStall(stall);
  return Status::ok();
}

bool BlockCacheImpl::hitInWholeBlock(const BlockRead& br) {
  const auto [no, offset] = bigBlockOf(br.blockNo);
  const std::string key = blockKey(br.fileKey, no);
  PolicyId pid = 0;
  uint32_t length = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    const std::optional<PolicyId> found = registry_.find(key);
    if (!found || cached_.find(*found) == nullptr) return false;
    pid = *found;
    length = registry_.at(pid).length;
  }
  const uint64_t in = offset + br.inOffset;
  if (in + br.out.size() > length) return false;
  // Not a read of the big block for the clock and the policy (it goes in a moment).
  BlockRead whole{br.fileKey, br.etag, no, key, length, in, br.out, /*counts=*/false};
  return tryHit(whole, pid) == HitOutcome::kServed;
}

PolicyId BlockCacheImpl::registerLocked(const std::string& key, std::string_view fileKey,
                                        uint64_t blockNo, const std::string& etag,
                                        uint32_t length) {
  BlockRegistry::Registration r = registry_.add(key, fileKey, blockNo, etag, length);
  // A cached entry that shared the version seen so far keeps it; one that caches this
  // version shares it again.
  if (r.replacedEtag) cached_.onNewVersion(r.id, std::move(*r.replacedEtag), etag);
  return r.id;
}

bool BlockCacheImpl::noteReadLocked(PolicyId pid, uint64_t inOffset, uint64_t length,
                                    bool counts) {
  if (!counts) {
    // Not a read of the block to count, nor one to judge the next read by: the read reaching the
    // block's end after it must count (a stream's requests reordered within the block).
    registry_.at(pid).prefetchedUnread = false;
    return false;
  }
  if (!registry_.noteRead(pid, inOffset, length)) return false;
  lead_.onRead(now_());
  if (epochs_.onRead(pid)) {
    policy_->onReaderEpoch(epochs_.epoch());  // plans the reader did not begin may expire
    prefetcher_.wakeAll();                    // every unread block is a candidate again
  }
  return true;
}

BlockCacheImpl::HitOutcome BlockCacheImpl::lookupHitLocked(const BlockRead& br, PolicyId pid,
                                                           HitPlan& hit, Doomed& unlinkLater) {
  const Entry* e = cached_.find(pid);
  if (e == nullptr) return HitOutcome::kAbsent;
  // Another version of the file. Which one is current only the origin knows: the miss
  // fetches with our etag, and only if that succeeds does fill() replace the cached block
  // (a reader still holding an outdated FileRef gets kStale and must not evict the newer
  // block).
  if (cachedEtagLocked(pid, *e) != br.etag) return HitOutcome::kAbsent;
  if (e->length != br.length) {
    // Same version, different size: the entry cannot be right.
    counters_.staleDrops++;
    dropLocked(pid, unlinkLater);
    return HitOutcome::kDropped;
  }
  hit.id = e->file;
  hit.base = fileOffset(e->object, br.blockNo);
  const std::span<const uint64_t> all = e->checksums();
  std::copy_n(all.begin() + static_cast<ptrdiff_t>(hit.start / kChecksumChunk), hit.sums.size(),
              hit.sums.begin());
  return HitOutcome::kServed;
}

BlockCacheImpl::HitOutcome BlockCacheImpl::tryHit(const BlockRead& br, PolicyId& pid) {
  HitPlan hit(br);
  {
    Doomed unlinkLater;
    std::unique_lock<std::mutex> g(mu_);
    if (pid == 0) pid = registerLocked(br.key, br.fileKey, br.blockNo, br.etag, br.length);
    const HitOutcome found = lookupHitLocked(br, pid, hit, unlinkLater);
    g.unlock();
    unlinkAll(unlinkLater);
    if (found != HitOutcome::kServed) return found;
  }
  // Read straight into `out` when the request is itself chunk-aligned (the common 128 KiB FUSE
  // read).
  const bool direct = hit.start == br.inOffset && hit.end == br.inOffset + br.out.size();
  std::vector<std::byte> scratch;
  std::span<std::byte> buf = br.out;
  if (!direct) {
    scratch.resize(static_cast<size_t>(hit.end - hit.start));
    buf = scratch;
  }
  // The first read of a large block from its start is most likely a stream (a shard read in
  // order, the kernel's read-ahead of it): have the rest of the block read from the SSD
  // meanwhile.
  const bool streamStart = hit.start == 0 && buf.size() >= kChecksumChunk / 2 && hit.end < br.length;
  Result<size_t> got =
      store_->pread(hit.id, hit.base + hit.start, buf, streamStart ? hit.base + br.length : 0);
  if (!got.isOk() || *got != buf.size()) {
    // Usually the block was evicted under us (its entry is gone already); otherwise its file
    // is missing or truncated and the block is useless.
    if (dropIfSame(pid, hit.id)) {
      // Still indexed in that file: the file is gone, short or unreadable (deleted or
      // truncated behind our back, a disk error).
      counters_.lostBlocks++;
      spdlog::warn("cache: block {} of '{}' (file {}) is {}; dropping and refetching",
                   br.blockNo, br.fileKey, store_->blockPath(hit.id),
                   got.isOk() ? "shorter than indexed (" + std::to_string(*got) + " of " +
                                    std::to_string(buf.size()) + " bytes)"
                              : "unreadable: " + got.status().toString());
    }
    return HitOutcome::kDropped;
  }
  if (!verifyChunks(hit.sums, 0, buf)) {
    // A block evicted from an object file under us reads as a hole (zeros): only a block still
    // cached there is corrupt.
    if (dropIfSame(pid, hit.id)) {
      counters_.checksumFailures++;
      spdlog::warn("cache: block {} of '{}' (file {}) failed its checksum; dropping and "
                   "refetching", br.blockNo, br.fileKey, store_->blockPath(hit.id));
    }
    return HitOutcome::kDropped;
  }
  if (!direct) {
    std::memcpy(br.out.data(), scratch.data() + (br.inOffset - hit.start), br.out.size());
  }
  noteHit(br, pid, hit.id);
  return HitOutcome::kServed;
}

void BlockCacheImpl::noteHit(const BlockRead& br, PolicyId pid, BlockFileId id) {
  {
    std::lock_guard<std::mutex> g(mu_);
    noteHitLocked(pid, id, br.noteOffset(), br.out.size(), br.counts);
  }
  countHit(br.out.size());
}

void BlockCacheImpl::noteHitLocked(PolicyId pid, BlockFileId id, uint64_t inOffset,
                                   uint64_t bytes, bool counts) {
  const bool tell = noteReadLocked(pid, inOffset, bytes, counts);
  const Entry* e = cached_.find(pid);
  if (e != nullptr && e->file == id) {
    if (tell) {
      policy_->onAccess(pid);
      notePlanDiscardsLocked();
    } else {
      policy_->onTouch(pid);  // a continued read: recency only
    }
  }
  EpochStats& epoch = epochs_.current();
  epoch.reads++;
  epoch.hits++;
  epoch.hitBytes += bytes;
}

void BlockCacheImpl::countHit(uint64_t bytes) {
  counters_.hits++;
  counters_.hitBytes += bytes;
  prefetcher_.wakeForRoom();  // a read may have made room (a victim) for a prefetch
}

BlockCacheImpl::MissPlan BlockCacheImpl::planMissLocked(const BlockRead& br, PolicyId pid,
                                                        const std::string& flightKey,
                                                        bool mayRetry,
                                                        std::optional<uint64_t> avail) {
  MissPlan m;
  const Entry* cached = cached_.find(pid);
  if (mayRetry && cached != nullptr && cachedEtagLocked(pid, *cached) == br.etag) {
    m.cachedMeanwhile = true;
    return m;
  }
  if (br.followed && grain::shiftOf(br.blockNo) == 0 && grains_.shiftOf(br.fileKey) != 0) {
    // Found random since this read chose its blocks: no fetch of a big block any more.
    m.regrained = true;
    return m;
  }
  if (noteReadLocked(pid, br.noteOffset(), br.out.size(), br.counts)) {
    policy_->onMiss(pid);
    notePlanDiscardsLocked();
  }
  m.flight = flights_.find(flightKey);
  if (!m.flight && grain::shiftOf(br.blockNo) != 0) {
    // A grain of a file found random a moment ago, whose block of cache.block_size may still
    // be on its way (cut into grains once it lands: recutIfRegrained): take the grain's bytes
    // from that fetch rather than fetch them again.
    const BigBlock big = bigBlockOf(br.blockNo);
    m.flight = flights_.find(SingleFlight::flightKey(blockKey(br.fileKey, big.no), br.etag));
    if (m.flight) m.flightOffset = big.offset;
  }
  if (m.flight) {
    m.fetched = m.flight->result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    return m;
  }
  // Whether the block would be cached, asked before fetching it (fill() asks again).
  const SpaceAccount::Plan plan = space_.plan(BlockStore::allocatedBytes(br.length), avail);
  if (plan.possible && policy_->shouldAdmit(br.length, plan.toFree)) {
    m.flight = flights_.lead(flightKey, /*prefetch=*/false);
    m.leader = true;
  }
  return m;
}

Status BlockCacheImpl::readMiss(const BlockRead& br, PolicyId pid, bool mayRetry,
                                bool& cachedMeanwhile, bool& regrained, Stall& stall) {
  const std::string flightKey = SingleFlight::flightKey(br.key, br.etag);
  // Read before taking the lock (a syscall).
  const std::optional<uint64_t> avail = availableBytes();
  // One look under the lock: cached by now, join a fetch in flight, lead a new one, or read
  // only the range asked for.
  MissPlan m;
  const auto missedAt = SteadyClock::now();
  {
    std::lock_guard<std::mutex> g(mu_);
    m = planMissLocked(br, pid, flightKey, mayRetry, avail);
  }
  if (m.cachedMeanwhile) {
    cachedMeanwhile = true;
    return Status::ok();
  }
  if (m.regrained) {
    regrained = true;
    return Status::ok();
  }
  prefetcher_.wakeForRoom();
  if (!m.flight) return readUncached(br, stall);
  if (!m.leader) {
    return joinFlight(br, *m.flight, m.flightOffset, mayRetry, cachedMeanwhile, stall,
                      m.fetched ? std::nullopt : std::optional(missedAt));
  }
  return leadFlight(br, pid, flightKey, std::move(m.flight), stall);
}

Status BlockCacheImpl::readUncached(const BlockRead& br, Stall& stall) {
  // The block will not be cached (the policy declines, or no space): fetching all of it
  // would be wasted on every read that touches it. Read just what was asked.
  const uint64_t at = blockStart(br.blockNo) + br.inOffset;
  demandFetches_++;
  readersWaiting_++;
  const auto t0 = SteadyClock::now();
  Result<size_t> got = origin_.read(br.fileKey, br.etag, at, br.out);
  stall.add(StallKind::kOrigin, nsSince(t0));
  readersWaiting_--;
  demandFetches_--;
  if (!got.isOk()) return got.status();
  countOrigin(*got);
  if (*got != br.out.size()) {
    return stale("origin returned " + std::to_string(*got) + " of " +
                 std::to_string(br.out.size()) + " bytes at " + std::to_string(at) + " of '" +
                 std::string(br.fileKey) + "'");
  }
  countMiss(br.out.size());
  counters_.notAdmitted++;
  return Status::ok();
}

Status BlockCacheImpl::joinFlight(const BlockRead& br, const Flight& flight,
                                  std::optional<uint64_t> flightOffset, bool mayRetry,
                                  bool& cachedMeanwhile, Stall& stall,
                                  std::optional<SteadyClock::time_point> missedAt) {
  counters_.singleFlightWaits++;
  readersWaiting_++;
  const FetchResult& r = flight.result.get();
  if (missedAt) {
    stall.add(flight.prefetch ? StallKind::kPrefetch : StallKind::kReader, nsSince(*missedAt));
  }
  readersWaiting_--;
  if (!r.isOk()) {
    // A prefetch's error is no answer to this read: fetch for ourselves (once more).
    if (flight.prefetch && mayRetry) {
      cachedMeanwhile = true;
      return Status::ok();
    }
    return r.status();
  }
  if (!flightOffset ? (*r)->size != br.length
                    : (*r)->size < *flightOffset + br.inOffset + br.out.size()) {
    return stale("block " + std::to_string(br.blockNo) + " of '" + std::string(br.fileKey) +
                 "' changed size under the same etag");
  }
  std::memcpy(br.out.data(), (*r)->bytes.get() + flightOffset.value_or(0) + br.inOffset,
              br.out.size());
  countMiss(br.out.size());
  return Status::ok();
}

Status BlockCacheImpl::leadFlight(const BlockRead& br, PolicyId pid,
                                  const std::string& flightKey, std::shared_ptr<Flight> flight,
                                  Stall& stall) {
  // Fetch the whole block, publish it, serve our part, then try to cache it. The flight stays
  // out until the fill is done, so readers arriving meanwhile copy from our buffer instead of
  // fetching again.
  FlightRegistration unregister{this, flightKey, flight};
  demandFetches_++;
  readersWaiting_++;
  auto t0 = SteadyClock::now();
  Result<std::shared_ptr<FetchedBlock>> fetched =
      fetchBlock(br.fileKey, br.etag, br.blockNo, br.length);
  stall.add(StallKind::kOrigin, nsSince(t0));
  readersWaiting_--;
  demandFetches_--;
  if (!fetched.isOk()) {
    flight->promise.set_value(fetched.status());
    return fetched.status();
  }
  std::shared_ptr<FetchedBlock> block = std::move(*fetched);
  flight->promise.set_value(std::shared_ptr<const FetchedBlock>(block));
  std::memcpy(br.out.data(), block->bytes.get() + br.inOffset, br.out.size());
  countMiss(br.out.size());
  // The reply waits for the fill too (fs/ replies when read() returns).
  t0 = SteadyClock::now();
  fill(br, *block, pid);
  stall.add(StallKind::kFill, nsSince(t0));
  recutIfRegrained(br.fileKey, br.etag, br.blockNo);
  return Status::ok();
}

Result<std::shared_ptr<FetchedBlock>> BlockCacheImpl::fetchBlock(std::string_view fileKey,
                                                                 const std::string& etag,
                                                                 uint64_t blockNo,
                                                                 uint32_t length) {
  auto block = std::make_shared<FetchedBlock>();
  block->size = length;
  block->bytes = std::make_unique_for_overwrite<std::byte[]>(length);
  Result<size_t> got = origin_.read(fileKey, etag, blockStart(blockNo),
                                    std::span<std::byte>(block->bytes.get(), block->size));
  if (!got.isOk()) return got.status();
  countOrigin(*got);
  if (*got != length) {
    // Short before the size fs/ saw at open: the object was replaced by a shorter one.
    return stale("origin returned " + std::to_string(*got) + " of " + std::to_string(length) +
                 " bytes of block " + std::to_string(blockNo) + " of '" + std::string(fileKey) +
                 "'");
  }
  return block;
}

}  // namespace epochfs::cache
