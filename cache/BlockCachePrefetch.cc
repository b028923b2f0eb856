// Plans, discovery, and the prefetch turn that the Prefetcher's workers run.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "cache/BlockCacheImpl.h"

namespace epochfs::cache {
namespace {

// Names a prefetcher may try in one go before it backs off (blocks it cannot fetch).
constexpr int kNamesPerTurn = 8;
// Files discover() registers per hold of the cache's lock.
constexpr size_t kDiscoverSlice = 1024;

}  // namespace

void BlockCacheImpl::notePlanDiscardsLocked() {
  const uint64_t n = policy_->plansDiscarded();
  if (n == plansDiscarded_) return;
  spdlog::info("{} plan epoch(s) discarded unread at epoch {}: too old, or the reader does not "
               "follow them ({} in all)",
               n - plansDiscarded_, epochs_.epoch(), n);
  plansDiscarded_ = n;
}

template <typename Fn>
void BlockCacheImpl::forEachBlock(const FileRef& f, Fn fn) const {
  const unsigned shift = shiftOfFile(f);
  const uint64_t bs = shift == 0 ? blockSize() : uint64_t{1} << shift;
  for (uint64_t start = 0, i = 0; start < f.size; start += bs, ++i) {
    const uint64_t no = grain::make(shift, i);
    fn(blockKey(f.key, no), no, static_cast<uint32_t>(std::min(bs, f.size - start)));
  }
}

void BlockCacheImpl::planFiles(const std::vector<FileRef>& files, PlanOrder& order) {
  order.blocks.reserve(order.blocks.size() + files.size());  // at least one block per file
  std::lock_guard<std::mutex> g(mu_);
  for (const FileRef& f : files) {
    forEachBlock(f, [&](const std::string& key, uint64_t no, uint32_t len) {
      order.blocks.push_back(registerLocked(key, f.key, no, f.etag, len));
    });
  }
  order.files += files.size();
}

void BlockCacheImpl::planRanges(const FileRef& f, std::span<const ByteRange> ranges,
                                PlanOrder& order) {
  if (ranges.empty()) return;
  if (grains_.follows(f.size) && grains_.shiftOf(f.key) == 0) {
    // The plan says how the file is read: records of about the ranges' median length.
    std::vector<uint64_t> lengths;
    const size_t step = std::max<size_t>(1, ranges.size() / 1024);  // a sample of a big plan
    for (size_t i = 0; i < ranges.size(); i += step) lengths.push_back(ranges[i].length);
    std::nth_element(lengths.begin(), lengths.begin() + lengths.size() / 2, lengths.end());
    const unsigned shift = grains_.shiftForRecords(lengths[lengths.size() / 2]);
    if (shift != 0) {
      grains_.set(f.key, shift);
      recutWholeBlocksOf(f, "is planned in ranges");
    }
  }
  const unsigned shift = shiftOfFile(f);
  const uint64_t bs = shift == 0 ? blockSize() : uint64_t{1} << shift;
  std::lock_guard<std::mutex> g(mu_);
  std::optional<uint64_t> last;  // the block the previous range ended in
  for (const ByteRange& r : ranges) {
    const uint64_t end = std::min(f.size, r.offset + std::min(r.length, f.size));
    if (r.offset >= end) continue;
    for (uint64_t i = r.offset / bs; i * bs < end; ++i) {
      const uint64_t no = grain::make(shift, i);
      if (last == no) continue;
      const auto len = static_cast<uint32_t>(std::min(bs, f.size - i * bs));
      order.blocks.push_back(registerLocked(blockKey(f.key, no), f.key, no, f.etag, len));
      last = no;
    }
  }
}

uint64_t BlockCacheImpl::publishPlan(PlanOrder order, uint64_t stream) {
  bool used = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    used = order.resumes ? policy_->resumePlan(order.blocks, stream)
                         : policy_->addPlan(order.blocks, stream);
    if (used) {
      PrefetchStats& p = prefetcher_.counters();
      p.plans++;
      p.plannedFiles += order.files;
      p.plannedBlocks += order.blocks.size();
    }
  }
  prefetcher_.wakeAll();
  return used ? order.blocks.size() : 0;
}

void BlockCacheImpl::discover(const std::vector<FileRef>& files) {
  size_t done = 0;
  while (done < files.size()) {
    // In slices, so that a directory of a million files does not hold up reads for long.
    std::lock_guard<std::mutex> g(mu_);
    if (prefetcher_.threads() == 0 || prefetcher_.stopping()) return;
    PrefetchStats& p = prefetcher_.counters();
    const size_t end = std::min(files.size(), done + kDiscoverSlice);
    for (; done < end; ++done) {
      const FileRef& f = files[done];
      forEachBlock(f, [&](const std::string& key, uint64_t no, uint32_t len) {
        const size_t before = registry_.size();
        const PolicyId pid = registerLocked(key, f.key, no, f.etag, len);
        if (registry_.size() == before) return;  // known already (read, cached or planned)
        policy_->onDiscovered(pid);
        p.discoveredBlocks++;
      });
      p.discoveredFiles++;
    }
  }
  prefetcher_.wakeAll();
}

void BlockCacheImpl::discoverLater(std::function<std::vector<FileRef>()> list) {
  prefetcher_.enqueue([this, list = std::move(list)] { discover(list()); });
}

void BlockCacheImpl::cancelDiscovery() { prefetcher_.cancelJobs(); }

void BlockCacheImpl::startPrefetch(unsigned threads) { prefetcher_.start(threads); }

bool BlockCacheImpl::demandFull() const {
  // Demand first: where the origin serves a limited number of requests at once, a prefetch
  // starts only while the demand fetches out leave room for all the prefetchers, so that a
  // read never queues behind prefetches for a connection. Without a limit, prefetch runs
  // beside demand (it adds requests in flight, which is what a cold epoch needs).
  const unsigned limit = origin_.maxConcurrency();
  return limit > 0 && demandFetches_.load() + prefetcher_.threads() > limit;
}

bool BlockCacheImpl::claimLocked(std::optional<uint64_t> avail, Claim& c, Doomed& unlinkLater) {
  const auto now = now_();
  for (int tries = 0; tries < kNamesPerTurn; ++tries) {
    // Again here: reads may have started while this thread measured the disk.
    if (prefetcher_.stopping() || demandFull()) return false;
    policy_->onPrefetchLead(lead_.positions(now, readersWaiting_.load()));
    std::optional<PolicyId> named = policy_->nextPrefetch(space_.room(avail));
    if (!named) {
      // Candidates but no room the policy may take: a read may make some.
      prefetcher_.setWantsRoom(policy_->info().prefetchQueue > 0);
      return false;
    }
    const PolicyId pid = *named;
    if (!registry_.contains(pid)) {
      policy_->onPrefetchAbandoned(pid);
      continue;
    }
    BlockRegistry::Block& b = registry_.at(pid);
    if (!b.prefetchFailed && grains_.shiftOf(b.fileKey()) != grain::shiftOf(b.blockNo)) {
      // A block of a file since cut at another grain (planned or listed before): no read
      // asks for it any more.
      b.prefetchFailed = true;
    }
    if (b.prefetchFailed) {
      policy_->onPrefetchFailed(pid);
      continue;
    }
    std::string flightKey = SingleFlight::flightKey(*b.key, b.etag);
    const Entry* e = cached_.find(pid);
    if ((e != nullptr && cachedEtagLocked(pid, *e) == b.etag) || flights_.contains(flightKey)) {
      policy_->onPrefetchAbandoned(pid);
      continue;
    }
    // Room first: a block the policy would not admit now is not worth an origin request.
    c.admission = admitLocked(b.etag, b.length, pid, /*prefetch=*/true, avail, unlinkLater);
    prefetcher_.setWantsRoom(!c.admission.admitted);
    if (!c.admission.admitted) return false;
    c.admission.readSeq = registry_.readSeq();
    c.pid = pid;
    c.key = *b.key;
    c.fileKeyLength = b.fileKeyLength;
    c.etag = b.etag;
    c.blockNo = b.blockNo;
    c.length = b.length;
    c.flightKey = std::move(flightKey);
    c.flight = flights_.lead(c.flightKey, /*prefetch=*/true);
    c.claimedAt = now;
    return true;
  }
  return false;
}

bool BlockCacheImpl::prefetchOne() {
  if (demandFull()) return false;
  {
    // Block writes fail: every fetch now would be thrown away (see WriteBackoff.h).
    std::lock_guard<std::mutex> g(mu_);
    if (writeBackoff_.paused(now_())) return false;
  }
  refreshMeta(/*force=*/false);
  const std::optional<uint64_t> avail = availableBytes();
  Claim c;
  Doomed unlinkLater;
  bool claimed = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    claimed = claimLocked(avail, c, unlinkLater);
  }
  unlinkAll(unlinkLater);  // the victims' files
  if (!claimed) return false;
  FlightRegistration unregister{this, c.flightKey, c.flight};

  Result<std::shared_ptr<FetchedBlock>> fetched = fetchBlock(c.fileKey(), c.etag, c.blockNo,
                                                             c.length);
  if (!fetched.isOk()) {
    prefetchFailed(c, fetched.status());
    unregister.now();  // waiters that retry must not find this failed fetch again
    c.flight->promise.set_value(fetched.status());
    return false;
  }
  std::shared_ptr<FetchedBlock> block = std::move(*fetched);
  c.flight->promise.set_value(std::shared_ptr<const FetchedBlock>(block));
  BlockRead br{c.fileKey(), c.etag, c.blockNo, c.key, c.length, 0, {}};
  store(br, *block, c.admission, c.pid, /*prefetch=*/true);
  recutIfRegrained(br.fileKey, br.etag, br.blockNo);
  {
    std::lock_guard<std::mutex> g(mu_);
    lead_.onPrefetched(now_() - c.claimedAt);
  }
  return true;
}

void BlockCacheImpl::prefetchFailed(Claim& c, const Status& st) {
  spdlog::debug("prefetch of block {} of '{}' failed: {}", c.blockNo, c.fileKey(), st.toString());
  // Counted before the waiters wake, so that what they see next is consistent.
  std::lock_guard<std::mutex> g(mu_);
  prefetcher_.counters().failed++;
  registry_.at(c.pid).prefetchFailed = true;
  space_.release(c.admission.alloc);
  policy_->onPrefetchFailed(c.pid);
}

}  // namespace epochfs::cache
