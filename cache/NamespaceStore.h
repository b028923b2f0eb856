// cache/NamespaceStore.h: where fs/ persists its namespace snapshot (fs/NamespaceSnapshot).
//
// The cache keeps these records in its own index (IndexNamespaceStore, reached through
// BlockCache::namespaceStore()), so that they count against cache.size and live and die with
// the cache; but they are not blocks, so they have a seam of their own. To this interface the
// records are opaque: their keys and encoding belong to fs/.
//
// Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/Status.h"

namespace epochfs::cache {

// Opaque records, replaced as a whole atomically (saveNamespace), changed a few at a time
// (updateNamespace: a value puts, nullopt erases), read one (getNamespace: kNotFound if
// absent) or a key prefix at a time (scanNamespace, in key order; `fn` returns false to stop).
class NamespaceStore {
 public:
  virtual ~NamespaceStore() = default;

  virtual Status saveNamespace(const std::vector<std::pair<std::string, std::string>>& records) = 0;
  virtual Status updateNamespace(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) = 0;
  virtual Result<std::string> getNamespace(std::string_view key) const = 0;
  virtual Status scanNamespace(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;
};

}  // namespace epochfs::cache
