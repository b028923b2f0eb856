#include "cache/SingleFlight.h"

#include <cassert>

namespace epochfs::cache {

std::string SingleFlight::flightKey(std::string_view blockKey, std::string_view etag) {
  std::string k;
  k.reserve(blockKey.size() + 1 + etag.size());
  k.append(blockKey);
  k.push_back('\0');
  k.append(etag);
  return k;
}

std::shared_ptr<SingleFlight::Flight> SingleFlight::find(const std::string& flightKey) const {
  auto it = flights_.find(flightKey);
  return it == flights_.end() ? nullptr : it->second;
}

std::shared_ptr<SingleFlight::Flight> SingleFlight::lead(const std::string& flightKey,
                                                         bool prefetch) {
  auto flight = std::make_shared<Flight>();
  flight->prefetch = prefetch;
  const bool inserted = flights_.emplace(flightKey, flight).second;
  assert(inserted);
  (void)inserted;
  return flight;
}

void SingleFlight::retire(const std::string& flightKey, const std::shared_ptr<Flight>& flight) {
  auto it = flights_.find(flightKey);
  if (it != flights_.end() && it->second == flight) flights_.erase(it);
}

}  // namespace epochfs::cache
