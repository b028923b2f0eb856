// cache/Executor.h: where the prefetcher's work runs.
//
// An executor runs `workers` workers, each calling a turn function over and over: at once again
// while the turn did something (returned true), and after an idle turn (false) not before a
// wake-up or `idle` has passed. ThreadExecutor (makeThreadExecutor) runs each worker on a
// thread of its own; a test uses cache/tests/ManualExecutor.h instead, which runs turns only
// when the test says so, so that prefetch is tested step by step instead of by sleeping.
//
// Thread-safe. Lock order: wake calls may be made with the cache's mutex held (a turn is never
// called with the executor's own mutex held).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace epochfs::cache {

class Executor {
 public:
  using Turn = std::function<bool()>;
  virtual ~Executor() = default;

  // Starts the workers; call once. `turn` must stay valid until stop() returns.
  virtual void start(unsigned workers, Turn turn, std::chrono::milliseconds idle) = 0;
  // Wakes one idle worker (or makes the next one to go idle run again at once).
  virtual void wakeOne() = 0;
  // Wakes every worker.
  virtual void wakeAll() = 0;
  // Stops the workers; returns once no turn runs (a turn under way finishes first).
  // Idempotent; also done by the destructor.
  virtual void stop() = 0;
};

// One thread per worker.
std::unique_ptr<Executor> makeThreadExecutor();

}  // namespace epochfs::cache
