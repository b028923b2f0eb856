// cache/MetaMeter.h: how much of the cache dir is not blocks, measured now and then.
//
// The limit holds for the cache dir as a whole, so everything in it that is not a block file
// counts: the index, the store's directories, LOCK, a log file kept there, leftovers. Walking
// them costs a few dozen stats, so a measurement is due only once a second or after
// kRefreshInserts inserts (SpaceAccount's metadata reserve covers the growth in between), or
// when forced (after a namespace snapshot, for stats).
//
// Thread-safe: one measurer at a time; the others go on with the previous value.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace epochfs::cache {

class MetaMeter {
 public:
  static constexpr uint64_t kRefreshInserts = 64;

  // `dir`: the cache dir; `ownBytes`: what the index and the store occupy (their dirs are
  // skipped by the walk: index/, blocks/, tmp/).
  MetaMeter(std::string dir, std::function<uint64_t()> ownBytes)
      : dir_(std::move(dir)), ownBytes_(std::move(ownBytes)) {}

  // The metadata's bytes, if a measurement is due (or `force`) and no other thread measures.
  std::optional<uint64_t> measureIfDue(bool force);
  // Measures now.
  uint64_t measure() const;
  // A block was inserted (the index grew).
  void noteInsert() { insertsSince_.fetch_add(1, std::memory_order_relaxed); }

 private:
  const std::string dir_;
  const std::function<uint64_t()> ownBytes_;
  std::atomic<bool> measuring_{false};
  std::atomic<int64_t> lastNs_{0};
  std::atomic<uint64_t> insertsSince_{0};
};

}  // namespace epochfs::cache
