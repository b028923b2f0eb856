#include "cache/IndexNamespaceStore.h"

namespace epochfs::cache {

Status IndexNamespaceStore::saveNamespace(
    const std::vector<std::pair<std::string, std::string>>& records) {
  Status st = index_->replaceNamespace(records);
  metaChanged_(/*force=*/true);  // the index grew: account for it before the next fill
  return st;
}

Status IndexNamespaceStore::updateNamespace(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) {
  Status st = index_->updateNamespace(changes);
  metaChanged_(/*force=*/false);
  return st;
}

Result<std::string> IndexNamespaceStore::getNamespace(std::string_view key) const {
  return index_->getNamespace(key);
}

Status IndexNamespaceStore::scanNamespace(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  return index_->scanNamespace(prefix, fn);
}

}  // namespace epochfs::cache
