#include "cache/WriteBackoff.h"

#include <algorithm>

namespace epochfs::cache {

WriteBackoff::Failure WriteBackoff::onFailure(Clock::time_point now) {
  ++episodeFailures_;
  if (!inEpisode_) {
    const bool soon = pauses_ > 0 && now - episodeStart_ < max_;
    inEpisode_ = true;
    episodeStart_ = now;
    ++pauses_;
    if (soon) {
      pause_ = std::min(lastPause_ * 2, max_);
      until_ = now + pause_;
      logged_ = false;
      return Failure::kEpisodeResumed;
    }
    episodeFailures_ = 1;
    pause_ = first_;
    until_ = now + pause_;
    logged_ = true;
    return Failure::kEpisodeStarted;
  }
  // Failures of writes that started before the pause (other prefetchers, demand reads) say
  // nothing new: only one after the pause ran out means the dir is still broken.
  if (now < until_) return Failure::kWhilePaused;
  pause_ = std::min(pause_ * 2, max_);
  until_ = now + pause_;
  ++pauses_;
  return Failure::kPauseExtended;
}

bool WriteBackoff::onSuccess() {
  if (!inEpisode_) return false;
  inEpisode_ = false;
  lastPause_ = pause_;
  pause_ = Clock::duration{0};
  until_ = Clock::time_point{};
  return logged_;
}

}  // namespace epochfs::cache
