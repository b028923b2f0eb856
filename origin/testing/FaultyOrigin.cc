// origin/testing/FaultyOrigin.cc
#include "origin/testing/FaultyOrigin.h"

#include <thread>

namespace epochfs::origin {

void FaultyOrigin::failNextReads(int n, Code code) {
  failCode_.store(code);
  failReads_.store(n);
}

void FaultyOrigin::setReadDelay(std::chrono::milliseconds d) { delayMs_.store(d.count()); }

void FaultyOrigin::setTruncateReads(bool on) { truncate_.store(on); }

Result<size_t> FaultyOrigin::read(std::string_view key, std::string_view etag, uint64_t offset,
                                  std::span<std::byte> out) {
  if (int64_t ms = delayMs_.load(); ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  // Claim one injected failure, if any are left; exactly `n` concurrent readers fail.
  int left = failReads_.load();
  while (left > 0 && !failReads_.compare_exchange_weak(left, left - 1)) {
  }
  if (left > 0) {
    return Status(failCode_.load(), "injected failure reading " + std::string(key) + " from " +
                                        inner_.describe());
  }
  readCalls_.fetch_add(1);
  if (truncate_.load()) out = out.first(out.size() / 2);
  return inner_.read(key, etag, offset, out);
}

}  // namespace epochfs::origin
