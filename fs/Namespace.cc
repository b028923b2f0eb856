#include "fs/Namespace.h"

#include <malloc.h>

#include <algorithm>

#include <spdlog/spdlog.h>

namespace epochfs::fs {
namespace {

int64_t wallSec() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const origin::DirEntry* findEntry(const std::vector<origin::DirEntry>& entries,
                                  std::string_view name) {
  auto it = std::lower_bound(entries.begin(), entries.end(), name,
                             [](const origin::DirEntry& e, std::string_view n) { return e.name < n; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

}  // namespace

Result<std::unique_ptr<Namespace>> Namespace::open(const NamespaceOptions& opts,
                                                   origin::Origin& origin,
                                                   cache::NamespaceStore& store) {
  std::unique_ptr<Namespace> ns(new Namespace(opts, origin, store));
  if (ns->passthrough()) return ns;
  if (!ns->immutable()) {
    EPOCHFS_RETURN_IF_ERROR(ns->statRoot());
    return ns;
  }
  if (ns->snapshot_.load()) {
    ns->loadedFromSnapshot_ = true;
    spdlog::info("namespace: snapshot of {} directories, {} entries, taken {} s ago",
                 ns->snapshot_.directories(), ns->snapshot_.entries(),
                 wallSec() - ns->snapshot_.listedAtSec());
    return ns;
  }
  EPOCHFS_RETURN_IF_ERROR(ns->refresh());
  return ns;
}

Result<origin::ObjectInfo> Namespace::rootOfOrigin() {
  // The root has no entry in any listing; its mode and owner come from the origin itself (a
  // directory origin's root may well be 0700). S3 answers this without a request.
  auto root = origin_.stat("");
  if (!root.isOk()) return root.status();
  if (root->type != origin::EntryType::kDirectory) {
    return Status(Code::kNotDirectory, "the origin root is not a directory");
  }
  return root;
}

Status Namespace::statRoot() {
  auto root = rootOfOrigin();
  if (!root.isOk()) return root.status();
  std::unique_lock lock(mu_);
  rootInfo_ = std::move(*root);
  return Status::ok();
}

Status Namespace::refresh() {
  if (passthrough()) return Status::ok();
  std::lock_guard guard(refreshMu_);
  refreshes_++;
  if (!immutable()) {
    EPOCHFS_RETURN_IF_ERROR(statRoot());
    std::unique_lock lock(mu_);
    tree_.clear();
    return Status::ok();
  }
  auto start = Clock::now();
  {
    auto root = rootOfOrigin();
    if (!root.isOk()) return root.status();
    // One flat listing (S3: a request per 1,000 objects, instead of one per directory).
    auto all = origin_.listRecursive("");
    if (!all.isOk()) return all.status();
    Status st = snapshot_.replace(*root, *all, wallSec());
    if (!st.isOk()) return st;
  }
  loadedFromSnapshot_ = false;
  // The listing of a large bucket took hundreds of MB for a moment; give them back.
  ::malloc_trim(0);
  spdlog::info("namespace: listed {} directories, {} entries in {:.1f} s",
               snapshot_.directories(), snapshot_.entries(),
               std::chrono::duration<double>(Clock::now() - start).count());
  return Status::ok();
}

Result<std::shared_ptr<const Namespace::Listing>> Namespace::listing(std::string_view key) {
  {
    std::shared_lock lock(mu_);
    auto it = tree_.find(std::string(key));
    if (it != tree_.end() &&
        now() - it->second->fetched < std::chrono::duration<double>(opts_.ttlSec)) {
      return it->second;
    }
  }
  auto entries = origin_.list(key);
  if (!entries.isOk()) return entries.status();
  auto l = std::make_shared<const Listing>(Listing{std::move(*entries), now()});
  std::unique_lock lock(mu_);
  tree_[std::string(key)] = l;
  return l;
}

Result<origin::ObjectInfo> Namespace::stat(std::string_view key) {
  if (passthrough()) return origin_.stat(key);
  if (immutable()) return key.empty() ? snapshot_.root() : snapshot_.stat(key);
  if (key.empty()) {
    std::shared_lock lock(mu_);
    return rootInfo_;
  }
  auto [dir, name] = origin::splitKey(key);
  auto l = listing(dir);
  if (!l.isOk()) {
    if (l.status().code() == Code::kNotDirectory) return notFound(std::string(key));
    return l.status();
  }
  const origin::DirEntry* e = findEntry((*l)->entries, name);
  if (e == nullptr) return notFound(std::string(key));
  return e->info;
}

Result<std::vector<origin::DirEntry>> Namespace::list(std::string_view key) {
  if (passthrough()) return origin_.list(key);
  if (immutable()) return snapshot_.list(key);
  auto l = listing(key);
  if (!l.isOk()) return l.status();
  return (*l)->entries;
}

Status Namespace::invalidate(std::string_view key) {
  if (passthrough()) return Status::ok();
  auto info = origin_.stat(key);
  if (!info.isOk() && info.status().code() != Code::kNotFound) return info.status();
  if (immutable()) {
    // One record rewritten (only after an object changed under a mount that promised it
    // would not).
    return snapshot_.update(key, info.isOk() ? &*info : nullptr);
  }
  auto [dir, name] = origin::splitKey(key);
  std::unique_lock lock(mu_);
  auto it = tree_.find(std::string(dir));
  if (it == tree_.end()) return info.status();
  auto updated = std::make_shared<Listing>(*it->second);
  auto pos = std::lower_bound(
      updated->entries.begin(), updated->entries.end(), name,
      [](const origin::DirEntry& e, std::string_view n) { return e.name < n; });
  bool present = pos != updated->entries.end() && pos->name == name;
  if (info.isOk()) {
    if (present) {
      pos->info = *info;
    } else {
      updated->entries.insert(pos, origin::DirEntry{std::string(name), *info});
    }
  } else if (present) {
    updated->entries.erase(pos);
  }
  it->second = std::move(updated);
  return Status::ok();
}

NamespaceStats Namespace::stats() const {
  NamespaceStats s;
  s.mode = passthrough() ? "passthrough" : immutable() ? "immutable" : "ttl";
  s.refreshes = refreshes_;
  if (immutable()) {
    s.directories = snapshot_.directories();
    s.entries = snapshot_.entries();
    s.loadedFromSnapshot = loadedFromSnapshot_;
    if (snapshot_.listedAtSec() > 0) {
      s.snapshotAgeSec = static_cast<double>(wallSec() - snapshot_.listedAtSec());
    }
    return s;
  }
  std::shared_lock lock(mu_);
  s.directories = tree_.size();
  for (const auto& [d, l] : tree_) s.entries += l->entries.size();
  return s;
}

}  // namespace epochfs::fs
