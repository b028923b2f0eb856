// cache/FileGrains.cc
#include "cache/FileGrains.h"

#include <algorithm>
#include <bit>

#include "cache/Grain.h"

namespace epochfs::cache {

FileGrains::FileGrains(const FileGrainsOptions& opts) : opts_(opts) {}

uint64_t FileGrains::near(uint64_t length) {
  return std::max<uint64_t>(uint64_t{128} << 10, 2 * length);
}

unsigned FileGrains::shiftForRecords(uint64_t length) const {
  if (!opts_.enabled || length == 0) return 0;
  if (opts_.fixedGrain != 0) {
    return opts_.fixedGrain < opts_.blockSize
               ? static_cast<unsigned>(std::countr_zero(opts_.fixedGrain))
               : 0;
  }
  return grain::shiftForRecords(length, opts_.blockSize);
}

bool FileGrains::follow(Followed& f, uint64_t offset, uint64_t length, unsigned& shift) const {
  ++f.reads;
  const uint64_t reach = near(length);
  Run* run = nullptr;
  for (Run& r : f.runs) {
    if (r.end != 0 && offset + reach >= r.start && offset <= r.end + reach) {
      run = &r;
      break;
    }
  }
  if (run == nullptr) {
    // A new run, in place of the one used longest ago (retired: its length counts).
    run = &*std::min_element(f.runs.begin(), f.runs.end(),
                             [](const Run& a, const Run& b) { return a.used < b.used; });
    if (run->end != 0) f.lengths[f.retired++] = run->end - run->start;
    *run = Run{offset, offset + length, 0};
  }
  run->start = std::min(run->start, offset);
  run->end = std::max(run->end, offset + length);
  run->used = f.reads;
  if (run->end - run->start >= kSequentialBlocks * opts_.blockSize) {
    f.sequential = true;
    return true;
  }
  if (f.retired < kDecideAfter) return false;
  std::array<uint64_t, kDecideAfter> sorted = f.lengths;
  std::nth_element(sorted.begin(), sorted.begin() + kDecideAfter / 2, sorted.end());
  shift = shiftForRecords(sorted[kDecideAfter / 2]);
  f.sequential = shift == 0;
  return true;
}

FileGrains::Grain FileGrains::onRead(std::string_view key, uint64_t size, uint64_t offset,
                                     uint64_t length) {
  Grain g;
  if (!follows(size)) return g;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto r = random_.find(key); r != random_.end()) {
    g.shift = r->second;
    return g;
  }
  auto it = followed_.find(key);
  if (it == followed_.end()) {
    if (followed_.size() >= kMaxFollowed) followed_.clear();  // forget, and learn again
    it = followed_.emplace(std::string(key), Followed{}).first;
  }
  Followed& f = it->second;
  unsigned shift = 0;
  if (!f.sequential && !follow(f, offset, length, shift)) {
    g.learning = true;
    return g;
  }
  if (f.sequential) {  // found so before, or by this read (follow())
    g.sequential = true;
    return g;
  }
  auto node = followed_.extract(it);  // the key moves over, not copied
  random_.emplace(std::move(node.key()), shift);
  g.shift = shift;
  g.switched = true;
  return g;
}

unsigned FileGrains::shiftOf(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = random_.find(key);
  return it == random_.end() ? 0 : it->second;
}

void FileGrains::set(std::string_view key, unsigned shift) {
  if (shift == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = followed_.find(key); it != followed_.end()) followed_.erase(it);
  if (auto it = random_.find(key); it != random_.end()) {
    it->second = shift;
  } else {
    random_.emplace(std::string(key), shift);
  }
}

size_t FileGrains::randomFiles() const {
  std::lock_guard<std::mutex> lock(mu_);
  return random_.size();
}

}  // namespace epochfs::cache
