#include "fs/Namespace.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace epochfs::fs {
namespace {

// The snapshot's record of what it is; origin keys never contain '\0', so it cannot clash
// with a directory key.
const std::string kMetaKey("\0meta", 5);
constexpr std::string_view kFormat = "epochfs-namespace-v1";

void putU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putStr(std::string& s, std::string_view v) {
  putU64(s, v.size());
  s.append(v);
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool u64(uint64_t& v) {
    if (s_.size() - pos_ < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<uint64_t>(static_cast<unsigned char>(s_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool str(std::string& out) {
    uint64_t n = 0;
    if (!u64(n) || s_.size() - pos_ < n) return false;
    out.assign(s_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool atEnd() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

std::string encodeListing(const std::vector<origin::DirEntry>& entries) {
  std::string s;
  putU64(s, entries.size());
  for (const auto& e : entries) {
    putStr(s, e.name);
    putU64(s, e.info.type == origin::EntryType::kDirectory ? 1 : 0);
    putU64(s, e.info.size);
    putStr(s, e.info.etag);
    putU64(s, static_cast<uint64_t>(e.info.mtimeNs));
  }
  return s;
}

bool decodeListing(std::string_view bytes, std::vector<origin::DirEntry>& out) {
  Reader r(bytes);
  uint64_t n = 0;
  if (!r.u64(n) || n > bytes.size()) return false;
  out.resize(n);
  for (auto& e : out) {
    uint64_t type = 0, mtime = 0;
    if (!r.str(e.name) || !r.u64(type) || !r.u64(e.info.size) || !r.str(e.info.etag) ||
        !r.u64(mtime)) {
      return false;
    }
    e.info.type = type == 1 ? origin::EntryType::kDirectory : origin::EntryType::kFile;
    e.info.mtimeNs = static_cast<int64_t>(mtime);
  }
  return r.atEnd();
}

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

std::pair<std::string_view, std::string_view> splitKey(std::string_view key) {
  size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Result<std::unique_ptr<Namespace>> Namespace::open(const NamespaceOptions& opts,
                                                   origin::Origin& origin,
                                                   cache::BlockCache& store) {
  std::unique_ptr<Namespace> ns(new Namespace(opts, origin, store));
  if (!ns->immutable()) return ns;
  if (ns->loadPersisted()) return ns;
  EPOCHFS_RETURN_IF_ERROR(ns->refresh());
  return ns;
}

bool Namespace::loadPersisted() {
  std::unordered_map<std::string, std::shared_ptr<const Listing>> tree;
  std::string meta;
  bool ok = true;
  Status st = store_.loadNamespace([&](std::string_view key, std::string_view value) {
    if (key == kMetaKey) {
      meta.assign(value);
      return;
    }
    auto l = std::make_shared<Listing>();
    if (!decodeListing(value, l->entries)) {
      ok = false;
      return;
    }
    tree.emplace(std::string(key), std::move(l));
  });
  if (!st.isOk() || !ok) {
    spdlog::warn("namespace snapshot unreadable ({}); listing the origin again",
                 st.isOk() ? "bad record" : st.toString());
    return false;
  }
  Reader r(meta);
  std::string format, source;
  uint64_t listedAt = 0;
  if (meta.empty() || !r.str(format) || format != kFormat || !r.str(source) || !r.u64(listedAt)) {
    return false;  // no snapshot yet (or an unknown format)
  }
  if (source != opts_.source) {
    spdlog::info("namespace snapshot is of {}, not {}; listing the origin", source, opts_.source);
    return false;
  }
  std::unique_lock lock(mu_);
  tree_ = std::move(tree);
  listedAtSec_ = static_cast<int64_t>(listedAt);
  loadedFromSnapshot_ = true;
  spdlog::info("namespace: {} directories loaded from the snapshot taken {} s ago", tree_.size(),
               wallSec() - listedAtSec_);
  return true;
}

Result<Namespace::Tree> Namespace::listAll() {
  // One flat listing (S3: a request per 1,000 objects, instead of one per directory), then
  // grouped by parent directory. Sorted by key, so each directory's entries arrive in order.
  auto all = origin_.listRecursive("");
  if (!all.isOk()) return all.status();
  Tree tree;
  auto now = Clock::now();
  tree[""].fetched = now;
  for (auto& e : *all) {
    auto [dir, name] = splitKey(e.key);
    Listing& l = tree[std::string(dir)];
    l.fetched = now;
    l.entries.push_back(origin::DirEntry{std::string(name), std::move(e.info)});
    if (l.entries.back().info.type == origin::EntryType::kDirectory) tree[e.key].fetched = now;
  }
  // Keys sort with '/' as a byte, which can interleave a directory's names ("a b" < "a/c" <
  // "a0"); listings must be sorted by name.
  for (auto& [dir, l] : tree) {
    std::sort(l.entries.begin(), l.entries.end(),
              [](const origin::DirEntry& a, const origin::DirEntry& b) { return a.name < b.name; });
  }
  return tree;
}

Status Namespace::persist(const Tree& tree, int64_t listedAtSec) {
  std::vector<std::pair<std::string, std::string>> records;
  records.reserve(tree.size() + 1);
  for (const auto& [dir, l] : tree) records.emplace_back(dir, encodeListing(l.entries));
  std::string meta;
  putStr(meta, kFormat);
  putStr(meta, opts_.source);
  putU64(meta, static_cast<uint64_t>(listedAtSec));
  records.emplace_back(kMetaKey, std::move(meta));
  return store_.saveNamespace(records);
}

Status Namespace::refresh() {
  if (passthrough()) return Status::ok();
  std::lock_guard guard(refreshMu_);
  refreshes_++;
  if (!immutable()) {
    std::unique_lock lock(mu_);
    tree_.clear();
    return Status::ok();
  }
  auto start = Clock::now();
  auto tree = listAll();
  if (!tree.isOk()) return tree.status();
  int64_t listedAt = wallSec();
  Status st = persist(*tree, listedAt);
  if (!st.isOk()) spdlog::warn("namespace snapshot not saved: {}", st.toString());
  uint64_t entries = 0;
  std::unordered_map<std::string, std::shared_ptr<const Listing>> fresh;
  for (auto& [dir, l] : *tree) {
    entries += l.entries.size();
    fresh.emplace(dir, std::make_shared<Listing>(std::move(l)));
  }
  {
    std::unique_lock lock(mu_);
    tree_ = std::move(fresh);
    listedAtSec_ = listedAt;
    loadedFromSnapshot_ = false;
  }
  spdlog::info("namespace: listed {} directories, {} entries in {:.1f} s", tree->size(), entries,
               std::chrono::duration<double>(Clock::now() - start).count());
  return Status::ok();
}

Result<std::shared_ptr<const Namespace::Listing>> Namespace::listing(std::string_view key) {
  {
    std::shared_lock lock(mu_);
    auto it = tree_.find(std::string(key));
    if (it != tree_.end()) {
      if (immutable() || Clock::now() - it->second->fetched <
                             std::chrono::duration<double>(opts_.ttlSec)) {
        return it->second;
      }
    } else if (immutable()) {
      return notFound(std::string(key));  // the snapshot is the whole tree
    }
  }
  auto entries = origin_.list(key);
  if (!entries.isOk()) return entries.status();
  auto l = std::make_shared<const Listing>(Listing{std::move(*entries), Clock::now()});
  std::unique_lock lock(mu_);
  tree_[std::string(key)] = l;
  return l;
}

Result<origin::ObjectInfo> Namespace::stat(std::string_view key) {
  if (passthrough()) return origin_.stat(key);
  if (key.empty()) {
    origin::ObjectInfo root;
    root.type = origin::EntryType::kDirectory;
    return root;
  }
  auto [dir, name] = splitKey(key);
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
  auto l = listing(key);
  if (!l.isOk()) return l.status();
  return (*l)->entries;
}

Status Namespace::invalidate(std::string_view key) {
  if (passthrough()) return Status::ok();
  auto info = origin_.stat(key);
  auto [dir, name] = splitKey(key);
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
  } else if (info.status().code() == Code::kNotFound) {
    if (present) updated->entries.erase(pos);
  } else {
    return info.status();
  }
  it->second = std::move(updated);
  if (immutable()) {
    // Persist the one changed listing by rewriting the snapshot: simple, and rare (only after
    // an object changed under a mount that promised it would not).
    Tree copy;
    for (const auto& [d, l] : tree_) copy.emplace(d, *l);
    int64_t listedAt = listedAtSec_;
    lock.unlock();
    Status st = persist(copy, listedAt);
    if (!st.isOk()) spdlog::warn("namespace snapshot not saved: {}", st.toString());
  }
  return Status::ok();
}

NamespaceStats Namespace::stats() const {
  NamespaceStats s;
  s.mode = passthrough() ? "passthrough" : immutable() ? "immutable" : "ttl";
  s.refreshes = refreshes_;
  std::shared_lock lock(mu_);
  s.directories = tree_.size();
  for (const auto& [d, l] : tree_) s.entries += l->entries.size();
  s.loadedFromSnapshot = loadedFromSnapshot_;
  if (immutable() && listedAtSec_ > 0) s.snapshotAgeSec = static_cast<double>(wallSec() - listedAtSec_);
  return s;
}

}  // namespace epochfs::fs
