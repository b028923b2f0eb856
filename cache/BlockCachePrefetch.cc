// Stable policy ids, the epoch clock behind the per-epoch stats, plans, and the prefetchers.
#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"

namespace epochfs::cache {
namespace {

// Epochs kept in the stats.
constexpr size_t kEpochHistory = 64;
// Repeats are not news: the policy and the epoch clock see one read of a block where a reader
// issued several. A read is a repeat when it continues the block's previous read (it starts
// further into the block: the next 128 KiB FUSE read of a large block, however many other
// readers' reads came in between), or when the block was read within the last few reads (a
// reader that joined a fetch in flight, a duplicate). The next epoch's read of a block starts
// at or before where the last one did. The window is capped at 1/8 of the blocks seen, so that
// a small dataset's next epoch is never taken for repeats.
constexpr uint64_t kRepeatWindow = 16;
// Names a prefetcher may try in one go before it backs off (blocks it cannot fetch).
constexpr int kNamesPerTurn = 8;
// Files discover() registers per hold of the cache's lock.
constexpr size_t kDiscoverSlice = 1024;
// How long an idle prefetcher sleeps unless a read or a plan wakes it.
constexpr auto kIdleWait = std::chrono::milliseconds(50);

uint64_t blockNoOf(const std::string& key) {
  uint64_t n = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i) {
    n = (n << 8) | static_cast<uint8_t>(key[i]);
  }
  return n;
}

}  // namespace

BlockCacheImpl::PolicyId BlockCacheImpl::policyIdLocked(const std::string& key,
                                                        const std::string& etag,
                                                        uint32_t length) {
  auto [it, inserted] = pids_.try_emplace(key, known_.size() + 1);
  if (inserted) {
    Known k;
    k.key = &it->first;
    k.etag = etag;
    k.length = length;
    known_.push_back(std::move(k));
    return it->second;
  }
  const PolicyId pid = it->second;
  Known& k = known_[pid - 1];
  if (k.etag != etag) {
    // A cached entry that shares k.etag (see Entry) keeps the version it caches; one that
    // caches this version shares it again.
    if (auto e = entries_.find(pid); e != entries_.end()) {
      std::unique_ptr<std::string>& own = e->second.ownEtag;
      if (!own) {
        own = std::make_unique<std::string>(std::move(k.etag));
      } else if (*own == etag) {
        own.reset();
      }
    }
    k.etag = etag;
    k.prefetchFailed = false;
  }
  k.length = length;
  return pid;
}

bool BlockCacheImpl::noteReadLocked(PolicyId pid, uint64_t inOffset) {
  Known& k = known_[pid - 1];
  k.prefetchedUnread = false;
  ++readSeq_;
  const uint64_t window = std::min<uint64_t>(kRepeatWindow, known_.size() / 8);
  const bool repeat = k.lastReadSeq != 0 &&
                      (inOffset > k.lastInOffset || readSeq_ - k.lastReadSeq <= window);
  k.lastReadSeq = readSeq_;
  k.lastInOffset = static_cast<uint32_t>(inOffset);
  if (repeat) return false;
  const uint64_t before = clock_.epoch();
  clock_.onMiss(pid);
  if (clock_.epoch() != before) {
    policy_->onReaderEpoch(clock_.epoch());  // plans the reader did not begin may expire
    wakePrefetchers();                       // every unread block is a candidate again
  }
  return true;
}

void BlockCacheImpl::notePlanDiscardsLocked() {
  const uint64_t n = policy_->plansDiscarded();
  if (n == plansDiscarded_) return;
  spdlog::info("{} plan epoch(s) discarded unread at epoch {}: too old, or the reader does not "
               "follow them ({} in all)",
               n - plansDiscarded_, clock_.epoch(), n);
  plansDiscarded_ = n;
}

EpochStats& BlockCacheImpl::epochLocked() {
  const uint64_t now = clock_.epoch();
  if (log_.epochs.empty() || log_.epochs.back().epoch != now) {
    EpochStats e;
    e.epoch = now;
    log_.epochs.push_back(e);
    if (log_.epochs.size() > kEpochHistory) log_.epochs.pop_front();
  }
  return log_.epochs.back();
}

void BlockCacheImpl::planFiles(const std::vector<FileRef>& files, PlanOrder& order) {
  const uint64_t bs = opts_.blockSizeBytes;
  order.blocks.reserve(order.blocks.size() + files.size());  // at least one block per file
  std::lock_guard<std::mutex> g(mu_);
  for (const FileRef& f : files) {
    for (uint64_t start = 0, no = 0; start < f.size; start += bs, ++no) {
      const auto len = static_cast<uint32_t>(std::min(bs, f.size - start));
      order.blocks.push_back(policyIdLocked(blockKey(f.key, no), f.etag, len));
    }
  }
  order.files += files.size();
}

uint64_t BlockCacheImpl::publishPlan(PlanOrder order, uint64_t stream) {
  bool used = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    used = policy_->addPlan(order.blocks, stream);
    if (used) {
      prefetchStats_.plans++;
      prefetchStats_.plannedFiles += order.files;
      prefetchStats_.plannedBlocks += order.blocks.size();
    }
  }
  wakePrefetchers();
  return used ? order.blocks.size() : 0;
}

void BlockCacheImpl::discover(const std::vector<FileRef>& files) {
  const uint64_t bs = opts_.blockSizeBytes;
  size_t done = 0;
  while (done < files.size()) {
    // In slices, so that a directory of a million files does not hold up reads for long.
    std::lock_guard<std::mutex> g(mu_);
    if (prefetchThreads_ == 0 || stopping_) return;
    const size_t end = std::min(files.size(), done + kDiscoverSlice);
    for (; done < end; ++done) {
      const FileRef& f = files[done];
      for (uint64_t start = 0, no = 0; start < f.size; start += bs, ++no) {
        const auto len = static_cast<uint32_t>(std::min(bs, f.size - start));
        const size_t before = known_.size();
        const PolicyId pid = policyIdLocked(blockKey(f.key, no), f.etag, len);
        if (known_.size() == before) continue;  // known already (read, cached or planned)
        policy_->onDiscovered(pid);
        prefetchStats_.discoveredBlocks++;
      }
      prefetchStats_.discoveredFiles++;
    }
  }
  wakePrefetchers();
}

void BlockCacheImpl::startPrefetch(unsigned threads) {
  std::lock_guard<std::mutex> g(mu_);
  if (!prefetchers_.empty() || threads == 0) return;
  prefetchThreads_ = threads;
  for (unsigned i = 0; i < threads; ++i) prefetchers_.emplace_back([this] { prefetchLoop(); });
}

void BlockCacheImpl::prefetchLoop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopping_) return;
    }
    if (prefetchOne()) continue;
    std::unique_lock<std::mutex> lk(mu_);
    if (stopping_) return;
    prefetchCv_.wait_for(lk, kIdleWait);
  }
}

uint64_t BlockCacheImpl::freeBytesLocked(std::optional<uint64_t> avail) const {
  const uint64_t used = allocated_ + reserved_ + unlinking_ + metaBytes_ + reserve_;
  uint64_t room = opts_.sizeBytes > used ? opts_.sizeBytes - used : 0;
  if (avail) {
    const uint64_t freeNow = *avail - std::min(*avail, reserved_);
    const uint64_t need = opts_.minFreeBytes + reserve_;
    room = std::min(room, freeNow > need ? freeNow - need : 0);
  }
  // Less than a block is no room: a policy told otherwise names blocks that do not fit and
  // cannot be admitted without victims.
  return room < opts_.blockSizeBytes ? 0 : room;
}

bool BlockCacheImpl::prefetchOne() {
  // Demand first: where the origin serves a limited number of requests at once, a prefetch
  // starts only while the demand fetches out leave room for all the prefetchers, so that a
  // read never queues behind prefetches for a connection. Without a limit, prefetch runs
  // beside demand (it adds requests in flight, which is what a cold epoch needs).
  const unsigned limit = origin_.maxConcurrency();
  auto demandFull = [&] { return limit > 0 && demandFetches_.load() + prefetchThreads_ > limit; };
  if (demandFull()) return false;
  {
    // Block writes fail: every fetch now would be thrown away (see WriteBackoff.h).
    std::lock_guard<std::mutex> g(mu_);
    if (writeBackoff_.paused(WriteBackoff::Clock::now())) return false;
  }
  maybeRefreshMeta(/*force=*/false);
  const std::optional<uint64_t> avail = availableBytes();

  PolicyId pid = 0;
  Admission admission;
  Doomed unlinkLater;
  std::string key;
  std::string etag;
  uint32_t length = 0;
  std::string flightKey;
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int tries = 0; !flight; ++tries) {
      // Again here: reads may have started while this thread measured the disk.
      if (stopping_ || tries == kNamesPerTurn || demandFull()) return false;
      policy_->onReadersWaiting(readersWaiting_.load());
      std::optional<PolicyId> named = policy_->nextPrefetch(freeBytesLocked(avail));
      if (!named) {
        // Candidates but no room the policy may take: a read may make some.
        prefetchWantsRoom_ = policy_->info().prefetchQueue > 0;
        return false;
      }
      pid = *named;
      if (pid == 0 || pid > known_.size()) {
        policy_->onPrefetchAbandoned(pid);
        continue;
      }
      const Known& k = known_[pid - 1];
      flightKey = *k.key;
      flightKey.push_back('\0');
      flightKey += k.etag;
      auto e = entries_.find(pid);
      const bool cached = e != entries_.end() && cachedEtagLocked(pid, e->second) == k.etag;
      if (k.prefetchFailed) {
        policy_->onPrefetchFailed(pid);
        continue;
      }
      if (cached || flights_.contains(flightKey)) {
        policy_->onPrefetchAbandoned(pid);
        continue;
      }
      // Room first: a block the policy would not admit now is not worth an origin request.
      admission = admitLocked(k.etag, k.length, pid, /*prefetch=*/true, avail, unlinkLater);
      prefetchWantsRoom_ = !admission.admitted;
      if (!admission.admitted) break;
      admission.readSeq = readSeq_;
      flight = std::make_shared<Flight>();
      flight->prefetch = true;
      flights_.emplace(flightKey, flight);
      key = *k.key;
      etag = k.etag;
      length = k.length;
    }
  }
  unlinkAll(unlinkLater);  // the victims' files
  if (!flight) return false;
  FlightRegistration unregister{this, flightKey, flight};

  FileRef file;
  file.key = key.substr(0, key.size() - 9);  // blockKey: file key, '\0', 8 bytes
  file.etag = etag;
  const uint64_t blockNo = blockNoOf(key);
  file.size = blockNo * opts_.blockSizeBytes + length;  // at least; only key and etag are used

  Result<std::shared_ptr<Fetched>> fetched = fetchBlock(file.key, etag, blockNo, length);
  if (!fetched.isOk()) {
    const Status& st = fetched.status();
    spdlog::debug("prefetch of block {} of '{}' failed: {}", blockNo, file.key, st.toString());
    {
      // Counted before the waiters wake, so that what they see next is consistent.
      std::lock_guard<std::mutex> g(mu_);
      prefetchStats_.failed++;
      known_[pid - 1].prefetchFailed = true;
      reserved_ -= admission.alloc;
      policy_->onPrefetchFailed(pid);
    }
    unregister.now();  // waiters that retry must not find this failed fetch again
    flight->promise.set_value(st);
    return false;
  }
  std::shared_ptr<Fetched> block = std::move(*fetched);
  flight->promise.set_value(std::shared_ptr<const Fetched>(block));
  BlockRead br{&file, blockNo, key, length, 0, {}};
  store(br, *block, admission, pid, /*prefetch=*/true);
  return true;
}

}  // namespace epochfs::cache
