// Plan text in any pieces: the same paths (or the same error) whatever the split, and every
// path accepted is one checkPlanPath accepts, with the same byte ranges.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fs/PlanParser.h"

using epochfs::fs::PlanParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % size;  // where the first write ends
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  PlanParser whole;
  epochfs::Status a = whole.feed(text);
  if (a.isOk()) a = whole.finish();
  PlanParser pieces;
  epochfs::Status b = pieces.feed(text.substr(0, std::min(split, text.size())));
  if (b.isOk()) b = pieces.feed(text.substr(std::min(split, text.size())));
  if (b.isOk()) b = pieces.finish();
  if (a.isOk() != b.isOk()) std::abort();
  if (a.isOk()) {
    if (whole.paths() != pieces.paths()) std::abort();
    for (const auto& p : whole.paths()) {
      if (!epochfs::fs::checkPlanPath(p).isOk()) std::abort();
    }
    for (size_t i = 0; i < whole.pathCount(); ++i) {
      const PlanParser::Range r = whole.range(i);
      const PlanParser::Range q = pieces.range(i);
      if (r.offset != q.offset || r.length != q.length) std::abort();
      if (!r.whole() && r.offset > UINT64_MAX - r.length) std::abort();
    }
  }
  return 0;
}
