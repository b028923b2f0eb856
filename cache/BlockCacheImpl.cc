// The read path: split a read into blocks; serve each from the SSD (verified) or from a
// single-flight origin fetch.
#include "cache/BlockCacheImpl.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/Checksum.h"

namespace epochfs::cache {

uint64_t metadataReserve(uint64_t cacheSizeBytes) {
  return std::min(std::max(config::kMiB, cacheSizeBytes / 100), 64 * config::kMiB);
}

BlockCacheImpl::BlockCacheImpl(const config::CacheOptions& opts, origin::Origin& origin,
                               std::unique_ptr<policy::Policy> policy, CacheDirLock lock,
                               std::unique_ptr<BlockStore> store, std::unique_ptr<Index> index)
    : opts_(opts),
      reserve_(metadataReserve(opts.sizeBytes)),
      origin_(origin),
      lock_(std::move(lock)),
      store_(std::move(store)),
      index_(std::move(index)),
      policy_(std::move(policy)) {}

// The prefetchers stop first (they use everything else). Then members go in reverse order: the
// policy, then the index (RocksDB closes; every write is already in its WAL), then the store,
// and the dir lock last, so nobody can open the dir while the index is still open.
BlockCacheImpl::~BlockCacheImpl() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  prefetchCv_.notify_all();
  for (std::thread& t : prefetchers_) t.join();
}

std::string BlockCacheImpl::policyName() const { return std::string(policy_->name()); }

Result<size_t> BlockCacheImpl::read(const FileRef& file, uint64_t offset,
                                    std::span<std::byte> out) {
  if (offset >= file.size || out.empty()) return size_t{0};
  const uint64_t bs = opts_.blockSizeBytes;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), file.size - offset));
  size_t pos = 0;
  while (pos < n) {
    uint64_t at = offset + pos;
    uint64_t blockNo = at / bs;
    uint64_t blockStart = blockNo * bs;
    uint64_t blockLen = std::min(file.size, blockStart + bs) - blockStart;
    uint64_t inOffset = at - blockStart;
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - pos, blockLen - inOffset));
    BlockRead br{&file, blockNo, blockKey(file.key, blockNo), static_cast<uint32_t>(blockLen),
                 inOffset, out.subspan(pos, len)};
    // A failed block fails the whole read: fs/ turns it into an errno and the reader retries;
    // returning the bytes before it would only hide the error for one call.
    EPOCHFS_RETURN_IF_ERROR(readBlock(br));
    pos += len;
  }
  return n;
}

Status BlockCacheImpl::readBlock(const BlockRead& br) {
  PolicyId pid = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    pid = policyIdLocked(br.key, br.file->etag, br.length);
  }
  // A block can be filled (and its fetch retired) between our miss and readMiss() taking
  // the lock: readMiss() then sends us back for the hit instead of fetching it again. It
  // also does when the prefetch it waited for failed.
  for (int attempt = 0;; ++attempt) {
    if (tryHit(br, pid) == HitOutcome::kServed) return Status::ok();
    bool cachedMeanwhile = false;
    Status st = readMiss(br, pid, /*mayRetry=*/attempt < 2, cachedMeanwhile);
    if (!cachedMeanwhile) return st;
  }
}

BlockCacheImpl::Entry::Entry(BlockId blockId, uint32_t len, std::unique_ptr<std::string> etag,
                             std::span<const uint64_t> checksums)
    : id(blockId), length(len), ownEtag(std::move(etag)) {
  assert(checksums.size() == chunkCount(len));
  if (checksums.size() == 1) {
    sum0 = checksums[0];
  } else if (checksums.size() > 1) {
    sums = std::make_unique<uint64_t[]>(checksums.size());
    std::copy(checksums.begin(), checksums.end(), sums.get());
  }
}

BlockCacheImpl::HitOutcome BlockCacheImpl::tryHit(const BlockRead& br, PolicyId pid) {
  // The chunk-aligned range covering the request: what is read and verified.
  const uint64_t firstChunk = br.inOffset / kChecksumChunk;
  const uint64_t start = firstChunk * kChecksumChunk;
  const uint64_t end = std::min<uint64_t>(
      br.length, (br.inOffset + br.out.size() + kChecksumChunk - 1) / kChecksumChunk * kChecksumChunk);
  const size_t nChunks = static_cast<size_t>((end - start + kChecksumChunk - 1) / kChecksumChunk);
  // The sums of those chunks, copied under the lock (the entry may go once it is released):
  // on the stack for reads of up to 1 MiB (FUSE's largest, 9 chunks when unaligned), which is
  // every read but a test's.
  std::array<uint64_t, 9> few{};
  std::vector<uint64_t> many;
  std::span<uint64_t> sums(few.data(), std::min(nChunks, few.size()));
  if (nChunks > few.size()) {
    many.resize(nChunks);
    sums = many;
  }
  BlockId id = 0;
  {
    Doomed unlinkLater;
    std::unique_lock<std::mutex> g(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end()) return HitOutcome::kAbsent;
    // Another version of the file. Which one is current only the origin knows: the miss
    // fetches with our etag, and only if that succeeds does fill() replace the cached block
    // (a reader still holding an outdated FileRef gets kStale and must not evict the newer
    // block).
    if (cachedEtagLocked(pid, it->second) != br.file->etag) return HitOutcome::kAbsent;
    if (it->second.length != br.length) {
      // Same version, different size: the entry cannot be right.
      staleDrops_++;
      dropLocked(it, unlinkLater);
      g.unlock();
      unlinkAll(unlinkLater);
      return HitOutcome::kDropped;
    }
    id = it->second.id;
    const std::span<const uint64_t> all = it->second.checksums();
    std::copy_n(all.begin() + static_cast<ptrdiff_t>(firstChunk), nChunks, sums.begin());
  }

  // Read straight into `out` when the request is itself chunk-aligned (the common 128 KiB FUSE
  // read).
  const bool direct = start == br.inOffset && end == br.inOffset + br.out.size();
  std::vector<std::byte> scratch;
  std::span<std::byte> buf = br.out;
  if (!direct) {
    scratch.resize(static_cast<size_t>(end - start));
    buf = scratch;
  }
  // The first read of a large block from its start is most likely a stream (a shard read in
  // order, the kernel's read-ahead of it): have the rest of the block read from the SSD
  // meanwhile.
  const bool streamStart = start == 0 && buf.size() >= kChecksumChunk / 2 && end < br.length;
  Result<size_t> got = store_->pread(id, start, buf, streamStart ? br.length : 0);
  if (!got.isOk() || *got != buf.size()) {
    // Usually the block was evicted under us (its entry is gone already); otherwise its file
    // is missing or truncated and the block is useless.
    if (dropIfSame(pid, id)) {
      // Still indexed in that file: the file is gone, short or unreadable (deleted or
      // truncated behind our back, a disk error).
      lostBlocks_++;
      spdlog::warn("cache: block {} of '{}' (file {}) is {}; dropping and refetching",
                   br.blockNo, br.file->key, store_->blockPath(id),
                   got.isOk() ? "shorter than indexed (" + std::to_string(*got) + " of " +
                                    std::to_string(buf.size()) + " bytes)"
                              : "unreadable: " + got.status().toString());
    }
    return HitOutcome::kDropped;
  }
  if (!verifyChunks(sums, 0, buf)) {
    checksumFailures_++;
    spdlog::warn("cache: block {} of '{}' (file {}) failed its checksum; dropping and refetching",
                 br.blockNo, br.file->key, store_->blockPath(id));
    dropIfSame(pid, id);
    return HitOutcome::kDropped;
  }
  if (!direct) {
    std::memcpy(br.out.data(), scratch.data() + (br.inOffset - start), br.out.size());
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    const bool tell = noteReadLocked(pid, br.inOffset);
    auto it = entries_.find(pid);
    if (it != entries_.end() && it->second.id == id) {
      if (tell) {
        policy_->onAccess(pid);
        notePlanDiscardsLocked();
      } else {
        policy_->onTouch(pid);  // a continued read: recency only
      }
    }
    EpochStats& e = epochLocked();
    e.reads++;
    e.hits++;
    e.hitBytes += br.out.size();
  }
  hits_++;
  hitBytes_ += br.out.size();
  wakePrefetcher();  // a read may have made room (a victim) for a prefetch
  return HitOutcome::kServed;
}

void BlockCacheImpl::countMiss(uint64_t bytes) {
  misses_++;
  missBytes_ += bytes;
  std::lock_guard<std::mutex> g(mu_);
  EpochStats& e = epochLocked();
  e.reads++;
  e.missBytes += bytes;
}

void BlockCacheImpl::countOrigin(uint64_t bytes) {
  originBytes_ += bytes;
  std::lock_guard<std::mutex> g(mu_);
  epochLocked().originBytes += bytes;
}

Status BlockCacheImpl::readMiss(const BlockRead& br, PolicyId pid, bool mayRetry,
                                bool& cachedMeanwhile) {
  std::string flightKey = br.key;
  flightKey.push_back('\0');
  flightKey += br.file->etag;
  // Read before taking the lock (a syscall).
  std::optional<uint64_t> avail = availableBytes();
  // One look under the lock: cached by now, join a fetch in flight, lead a new one, or read
  // only the range asked for.
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto cached = entries_.find(pid);
    if (mayRetry && cached != entries_.end() &&
        cachedEtagLocked(pid, cached->second) == br.file->etag) {
      cachedMeanwhile = true;
      return Status::ok();
    }
    if (noteReadLocked(pid, br.inOffset)) {
      policy_->onMiss(pid);
      notePlanDiscardsLocked();
    }
    auto it = flights_.find(flightKey);
    if (it != flights_.end()) {
      flight = it->second;
    } else {
      // Whether the block would be cached, asked before fetching it (fill() asks again).
      AdmitPlan plan = planLocked(BlockStore::allocatedBytes(br.length), avail);
      if (plan.possible && policy_->shouldAdmit(br.length, plan.toFree)) {
        flight = std::make_shared<Flight>();
        flights_.emplace(flightKey, flight);
        leader = true;
      }
    }
  }
  wakePrefetcher();
  if (!flight) {
    // The block will not be cached (the policy declines, or no space): fetching all of it
    // would be wasted on every read that touches it. Read just what was asked.
    const uint64_t at = br.blockNo * opts_.blockSizeBytes + br.inOffset;
    demandFetches_++;
    readersWaiting_++;
    Result<size_t> got = origin_.read(br.file->key, br.file->etag, at, br.out);
    readersWaiting_--;
    demandFetches_--;
    if (!got.isOk()) return got.status();
    countOrigin(*got);
    if (*got != br.out.size()) {
      return stale("origin returned " + std::to_string(*got) + " of " +
                   std::to_string(br.out.size()) + " bytes at " + std::to_string(at) + " of '" +
                   br.file->key + "'");
    }
    countMiss(br.out.size());
    notAdmitted_++;
    return Status::ok();
  }

  if (!leader) {
    singleFlightWaits_++;
    readersWaiting_++;
    const FetchResult& r = flight->result.get();
    readersWaiting_--;
    if (!r.isOk()) {
      // A prefetch's error is no answer to this read: fetch for ourselves (once more).
      if (flight->prefetch && mayRetry) {
        cachedMeanwhile = true;
        return Status::ok();
      }
      return r.status();
    }
    if ((*r)->size != br.length) {
      return stale("block " + std::to_string(br.blockNo) + " of '" + br.file->key +
                   "' changed size under the same etag");
    }
    std::memcpy(br.out.data(), (*r)->bytes.get() + br.inOffset, br.out.size());
    countMiss(br.out.size());
    return Status::ok();
  }

  // The leader: fetch the whole block, publish it, serve our part, then try to cache it. The
  // flight stays in flights_ until the fill is done, so readers arriving meanwhile copy from
  // our buffer instead of fetching again.
  FlightRegistration unregister{this, flightKey, flight};

  demandFetches_++;
  readersWaiting_++;
  Result<std::shared_ptr<Fetched>> fetched =
      fetchBlock(br.file->key, br.file->etag, br.blockNo, br.length);
  readersWaiting_--;
  demandFetches_--;
  if (!fetched.isOk()) {
    flight->promise.set_value(fetched.status());
    return fetched.status();
  }
  std::shared_ptr<Fetched> block = std::move(*fetched);
  flight->promise.set_value(std::shared_ptr<const Fetched>(block));
  std::memcpy(br.out.data(), block->bytes.get() + br.inOffset, br.out.size());
  countMiss(br.out.size());
  fill(br, *block, pid, /*prefetch=*/false);
  return Status::ok();
}

Result<std::shared_ptr<BlockCacheImpl::Fetched>> BlockCacheImpl::fetchBlock(
    const std::string& fileKey, const std::string& etag, uint64_t blockNo, uint32_t length) {
  auto block = std::make_shared<Fetched>();
  block->size = length;
  block->bytes = std::make_unique_for_overwrite<std::byte[]>(length);
  Result<size_t> got = origin_.read(fileKey, etag, blockNo * opts_.blockSizeBytes,
                                    std::span<std::byte>(block->bytes.get(), block->size));
  if (!got.isOk()) return got.status();
  countOrigin(*got);
  if (*got != length) {
    // Short before the size fs/ saw at open: the object was replaced by a shorter one.
    return stale("origin returned " + std::to_string(*got) + " of " + std::to_string(length) +
                 " bytes of block " + std::to_string(blockNo) + " of '" + fileKey + "'");
  }
  return block;
}

bool BlockCacheImpl::dropIfSame(PolicyId pid, BlockId id) {
  Doomed unlinkLater;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end() || it->second.id != id) return false;
    dropLocked(it, unlinkLater);
  }
  unlinkAll(unlinkLater);
  return true;
}

uint64_t BlockCacheImpl::measureMetaBytes() const {
  // Everything in the cache dir that is not a block: the index, the store's directories, and
  // any other file or directory (LOCK, a log file kept there, leftovers), so that the limit
  // holds for the directory as a whole.
  uint64_t total = index_->diskBytes() + store_->directoryBytes();
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(opts_.dir, ec);
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

void BlockCacheImpl::maybeRefreshMeta(bool force) const {
  constexpr int64_t kRefreshNs = 1'000'000'000;
  constexpr uint64_t kMetaRefreshInserts = 64;
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  if (!force && now - lastRefreshNs_.load() < kRefreshNs &&
      insertsSinceRefresh_.load() < kMetaRefreshInserts) {
    return;
  }
  // One measurer at a time; the others go on with the previous value (the reserve covers it).
  if (refreshing_.exchange(true)) return;
  uint64_t bytes = measureMetaBytes();
  {
    std::lock_guard<std::mutex> g(mu_);
    metaBytes_ = bytes;
  }
  lastRefreshNs_ = now;
  insertsSinceRefresh_ = 0;
  refreshing_ = false;
}

CacheStats BlockCacheImpl::stats() const {
  maybeRefreshMeta(/*force=*/true);
  CacheStats s;
  {
    std::lock_guard<std::mutex> g(mu_);
    s.usedBytes = allocated_ + metaBytes_;
    s.blocks = entries_.size();
  }
  s.limitBytes = opts_.sizeBytes;
  s.hits = hits_;
  s.misses = misses_;
  s.hitBytes = hitBytes_;
  s.missBytes = missBytes_;
  s.checksumFailures = checksumFailures_;
  s.lostBlocks = lostBlocks_;
  s.evictions = evictions_;
  s.staleDrops = staleDrops_;
  s.notAdmitted = notAdmitted_;
  s.singleFlightWaits = singleFlightWaits_;
  s.recoveredBlocks = recoveredBlocks_;
  s.orphansRemoved = orphansRemoved_;
  s.originBytes = originBytes_;
  s.writeFailures = writeFailures_;
  s.indexResets = indexResets_;
  {
    std::lock_guard<std::mutex> g(mu_);
    s.prefetch = prefetchStats_;
    s.prefetch.threads = prefetchThreads_;
    s.prefetch.paused = writeBackoff_.paused(WriteBackoff::Clock::now());
    s.prefetch.pauses = writeBackoff_.pauses();
    s.policy = policy_->info();
    s.epoch = clock_.epoch();
    s.epochs.assign(log_.epochs.begin(), log_.epochs.end());
  }
  return s;
}

}  // namespace epochfs::cache
