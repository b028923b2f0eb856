// fs/PlanParser.h: the text a training job sends to .epochfs/plan (kIocPlanAppend).
//
// One path per line, "\n"-terminated (a final line without one is accepted at finish()),
// UTF-8, relative to the mount root: no leading "/", no empty, "." or ".." components, no NUL,
// at most kMaxPathBytes. A "\r" before the "\n" is dropped. A line may name a byte range of
// the file instead of all of it (a record inside a large file: an HDF5 chunk, an LMDB value):
// "path<TAB>offset<TAB>length", both decimal, length > 0; so a path cannot contain a TAB.
// Empty lines and lines starting with "#" are ignored. Whatever a chunk brings is parsed at
// once, so a malformed line fails the append that completes it (EINVAL), naming the line;
// complete lines are never re-read.
//
// Not thread-safe (one per open file handle; FUSE serializes nothing, but a writer does).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/Status.h"

namespace epochfs::fs {

inline constexpr size_t kMaxPathBytes = 4096;
// A line: a path and, for a range, two TABs and two numbers of up to 20 digits.
inline constexpr size_t kMaxLineBytes = kMaxPathBytes + 42;
// A plan larger than this is refused (kInvalid): 1 GiB of paths is ~10^7 files.
inline constexpr uint64_t kMaxPlanBytes = 1ULL << 30;

// What a plan line names of its file: all of it (length 0) or `length` bytes from `offset`.
struct PlanRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  constexpr bool whole() const { return length == 0; }
};

class PlanParser {
 public:
  // Parses the complete lines in `data` (plus what earlier calls left unfinished). After an
  // error every later call fails with the same error.
  Status feed(std::string_view data);
  // Parses a last line without "\n".
  Status finish();

  // The paths parsed so far, in order. Kept in one buffer (the text of the plan's paths plus 4
  // bytes each: a vector of strings cost ~40 bytes more per path, plus malloc's rounding).
  size_t pathCount() const { return ends_.size(); }
  std::string_view path(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(begin, ends_[i] - begin);
  }
  // The bytes of the file that entry `i` names: all of it (kWhole) or a range.
  using Range = PlanRange;
  static constexpr Range kWhole{};
  Range range(size_t i) const { return i < ranges_.size() ? ranges_[i] : kWhole; }
  // Copies of all of them (tests).
  std::vector<std::string> paths() const;
  uint64_t lines() const { return line_; }
  bool failed() const { return !error_.isOk(); }

 private:
  Status parseLine(std::string_view line);

  std::string text_;            // the paths, back to back
  std::vector<uint32_t> ends_;  // where each ends in text_ (kMaxPlanBytes < 4 GiB)
  std::vector<Range> ranges_;   // empty until the first range: a plan of whole files pays none
  std::string partial_;  // an unfinished last line
  uint64_t line_ = 0;    // lines parsed so far
  uint64_t bytes_ = 0;
  Status error_;
};

// Why `path` is not a valid plan path, or ok.
Status checkPlanPath(std::string_view path);

}  // namespace epochfs::fs
