#include "cache/EpochLog.h"

namespace epochfs::cache {

EpochStats& EpochLog::current() {
  const uint64_t now = clock_.epoch();
  if (epochs_.empty() || epochs_.back().epoch != now) {
    EpochStats e;
    e.epoch = now;
    epochs_.push_back(e);
    if (epochs_.size() > kEpochHistory) epochs_.pop_front();
  }
  return epochs_.back();
}

}  // namespace epochfs::cache
