// fs/FuseRequestCounts.h: how many requests of each kind the kernel sent (FuseChannel counts
// them as libfuse reads them; .epochfs/stats shows them). Thread-safe, lock-free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fs/FuseKernel.h"

namespace epochfs::fs {

class FuseRequestCounts {
 public:
  void count(uint32_t opcode) {
    counts_[opcode < fusek::kMaxOpcode ? opcode : 0].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t of(uint32_t opcode) const {
    return counts_[opcode < fusek::kMaxOpcode ? opcode : 0].load(std::memory_order_relaxed);
  }
  // Every named opcode with its count (zeros included, so that the keys are stable), and
  // "other" for the rest.
  std::vector<std::pair<std::string, uint64_t>> snapshot() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    uint64_t other = 0;
    for (uint32_t op = 0; op < fusek::kMaxOpcode; ++op) {
      const uint64_t n = counts_[op].load(std::memory_order_relaxed);
      const auto name = fusek::opcodeName(op);
      if (name.empty()) {
        other += n;
      } else {
        out.emplace_back(std::string(name), n);
      }
    }
    out.emplace_back("other", other);
    return out;
  }

 private:
  std::array<std::atomic<uint64_t>, fusek::kMaxOpcode> counts_{};
};

}  // namespace epochfs::fs
