// cache/IndexNamespaceStore.h: the NamespaceStore of a cache dir, in its RocksDB index
// (Index's namespace column family), which the BlockCache owns and hands out through
// BlockCache::namespaceStore().
//
// The records take room in the index, which counts against cache.size: after each write the
// store calls `metaChanged` so that the cache re-measures its metadata (the index dir) before
// it admits more blocks. With force = true (saveNamespace: a whole snapshot, possibly large)
// it measures at once; with false (updateNamespace: a few records) it may wait for its next
// periodic measurement. `metaChanged` is called whether or not the write succeeded (a failed
// write may still have grown the index).
//
// Thread-safe if `metaChanged` is (Index is).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/Index.h"
#include "cache/NamespaceStore.h"

namespace epochfs::cache {

class IndexNamespaceStore final : public NamespaceStore {
 public:
  using MetaChanged = std::function<void(bool force)>;

  // `index` is where the cache holds its index: recovery may replace the index it points to
  // (a damaged one is set aside), so the store follows the pointer. It must outlive this store.
  IndexNamespaceStore(const std::unique_ptr<Index>& index, MetaChanged metaChanged)
      : index_(index), metaChanged_(std::move(metaChanged)) {}

  Status saveNamespace(const std::vector<std::pair<std::string, std::string>>& records) override;
  Status updateNamespace(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) override;
  Result<std::string> getNamespace(std::string_view key) const override;
  Status scanNamespace(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn)
      const override;

 private:
  const std::unique_ptr<Index>& index_;
  const MetaChanged metaChanged_;
};

}  // namespace epochfs::cache
