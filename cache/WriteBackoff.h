// cache/WriteBackoff.h: when block writes fail, prefetch pauses.
//
// A block that cannot be written to the cache dir (no free inodes, EPERM, a directory that
// vanished, an index write error) is served and dropped. A prefetcher that then moved straight
// on to the next block would download the dataset from the origin over and over with nothing
// to show for it. So the first failure starts an *episode*: prefetch pauses for `first`; each
// failure after a pause has run out (prefetch tried again and failed) doubles the pause, up to
// `max`; the first successful write ends the episode. A dir that flaps (a write succeeds now
// and then, as on a filesystem with a few inodes left) must not flood the log or reset the
// backoff: an episode that starts less than `max` after the previous one started continues
// its pause length and is not logged again. Demand reads are never paused: they are
// served from the origin, and their writes are the probes that notice the dir has recovered.
//
// Not thread-safe: owned by BlockCacheImpl and called with its mutex held. Time is passed in,
// so that a test steps it by hand.
#pragma once

#include <chrono>
#include <cstdint>

namespace epochfs::cache {

class WriteBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  WriteBackoff(Clock::duration first, Clock::duration max) : first_(first), max_(max) {}

  // What a failure meant.
  enum class Failure {
    kEpisodeStarted,  // the first of an episode: worth one log line
    kEpisodeResumed,  // the first of an episode soon after the last one: as it, and quiet
    kPauseExtended,   // prefetch had resumed and failed again: a longer pause began
    kWhilePaused,     // a write already under way (or a demand read's) failed: no change
  };
  Failure onFailure(Clock::time_point now);
  // A block was written. True if that ended an episode that was logged (worth one line).
  bool onSuccess();

  // Whether prefetch must wait at `now`; pausedUntil() says until when.
  bool paused(Clock::time_point now) const { return inEpisode_ && now < until_; }
  Clock::time_point pausedUntil() const { return until_; }
  bool inEpisode() const { return inEpisode_; }
  // Failures in the current (or last) episode.
  uint64_t episodeFailures() const { return episodeFailures_; }
  // Pauses begun since construction (episodes started + pauses extended).
  uint64_t pauses() const { return pauses_; }
  Clock::duration currentPause() const { return pause_; }

 private:
  const Clock::duration first_;
  const Clock::duration max_;
  bool inEpisode_ = false;
  Clock::duration pause_{0};
  Clock::duration lastPause_{0};  // of the last episode
  Clock::time_point until_{};
  bool logged_ = false;  // the current (or last) episode was logged
  Clock::time_point episodeStart_{};
  uint64_t episodeFailures_ = 0;
  uint64_t pauses_ = 0;
};

}  // namespace epochfs::cache
