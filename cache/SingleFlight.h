// cache/SingleFlight.h: one origin fetch per block version, however many readers want it.
//
// The first reader of a missing block leads a flight (lead()); readers of the same version of
// the same block that arrive while it is out join it (find()) and wait for its result instead
// of fetching again. The leader publishes the block (or the error) through the flight's
// promise and retires the flight (retire()) once the block is filled, so that readers arriving
// during the fill still copy from the fetched buffer. A prefetcher leads flights too
// (`prefetch`): a reader that joins a failed prefetch fetches for itself.
//
// Not thread-safe: the cache calls it with its mutex held; waiting on a flight's result is
// done without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/Status.h"

namespace epochfs::cache {

// A whole block fetched from the origin, shared by the leader and the waiters.
struct FetchedBlock {
  std::unique_ptr<std::byte[]> bytes;
  size_t size = 0;
};
using FetchResult = Result<std::shared_ptr<const FetchedBlock>>;

class SingleFlight {
 public:
  struct Flight {
    std::promise<FetchResult> promise;
    std::shared_future<FetchResult> result = promise.get_future().share();
    bool prefetch = false;  // led by a prefetcher
  };

  // The name of version `etag` of the block whose index key is `blockKey`.
  static std::string flightKey(std::string_view blockKey, std::string_view etag);

  // The flight of `flightKey` out now, or null.
  std::shared_ptr<Flight> find(const std::string& flightKey) const;
  bool contains(const std::string& flightKey) const { return flights_.contains(flightKey); }
  // A new flight of `flightKey`, which must not be out.
  std::shared_ptr<Flight> lead(const std::string& flightKey, bool prefetch);
  // Ends `flight` of `flightKey`, unless another flight has taken the key meanwhile.
  void retire(const std::string& flightKey, const std::shared_ptr<Flight>& flight);
  size_t size() const { return flights_.size(); }

 private:
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace epochfs::cache
