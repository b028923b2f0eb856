// origin/testing/FaultyOrigin.h: wraps a real Origin and injects failures and delays.
//
// Only read() is faulty; stat() and list() pass straight through. Thread-safe: the knobs may
// be turned while other threads read.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "origin/Origin.h"

namespace epochfs::origin {

class FaultyOrigin final : public Origin {
 public:
  explicit FaultyOrigin(Origin& inner) : inner_(inner) {}

  // The next `n` read() calls fail with `code` (e.g. Code::kUnavailable) without reaching
  // the inner origin. Replaces any failures still pending.
  void failNextReads(int n, Code code = Code::kUnavailable);
  // Every read() sleeps this long before calling the inner origin (to widen races).
  void setReadDelay(std::chrono::milliseconds d);
  // When on, every read() returns half the bytes asked for, simulating a file truncated
  // under us: the result is short although not at the end of the object.
  void setTruncateReads(bool on);
  // Calls that reached the inner origin.
  uint64_t readCalls() const { return readCalls_.load(); }

  std::string describe() const override { return "faulty:" + inner_.describe(); }
  Result<ObjectInfo> stat(std::string_view key) override { return inner_.stat(key); }
  Result<std::vector<DirEntry>> list(std::string_view key) override { return inner_.list(key); }
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override;

 private:
  Origin& inner_;
  std::atomic<int> failReads_{0};
  std::atomic<Code> failCode_{Code::kUnavailable};
  std::atomic<int64_t> delayMs_{0};
  std::atomic<bool> truncate_{false};
  std::atomic<uint64_t> readCalls_{0};
};

}  // namespace epochfs::origin
