#include "fs/NamespaceSnapshot.h"

#include <spdlog/spdlog.h>

namespace epochfs::fs {
namespace {

const std::string kMetaKey = "m";
constexpr char kEntryTag = 'e';
// v3 added mode, uid and gid to every entry (and the root's info to the meta record); a v2
// snapshot does not have them, so it is not read and the origin is listed again.
constexpr std::string_view kFormat = "epochfs-namespace-v3";

// Little-endian, `bytes` wide.
void putLe(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU64(std::string& s, uint64_t v) { putLe(s, v, 8); }
void putStr(std::string& s, std::string_view v) {
  putU64(s, v.size());
  s.append(v);
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool le(uint64_t& v, int bytes) {
    if (s_.size() - pos_ < static_cast<size_t>(bytes)) return false;
    v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= static_cast<uint64_t>(static_cast<unsigned char>(s_[pos_ + i])) << (8 * i);
    }
    pos_ += static_cast<size_t>(bytes);
    return true;
  }
  bool u64(uint64_t& v) { return le(v, 8); }
  bool u32(uint32_t& v) {
    uint64_t x = 0;
    if (!le(x, 4)) return false;
    v = static_cast<uint32_t>(x);
    return true;
  }
  bool u16(uint16_t& v) {
    uint64_t x = 0;
    if (!le(x, 2)) return false;
    v = static_cast<uint16_t>(x);
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

// type, size, mtime, etag, then mode (2 bytes: kNoMode for an origin without one), uid and
// gid (4 bytes each).
void putInfo(std::string& s, const origin::ObjectInfo& info) {
  putU64(s, info.type == origin::EntryType::kDirectory ? 1 : 0);
  putU64(s, info.size);
  putU64(s, static_cast<uint64_t>(info.mtimeNs));
  putStr(s, info.etag);
  putLe(s, info.mode, 2);
  putLe(s, info.uid, 4);
  putLe(s, info.gid, 4);
}

std::string encodeInfo(const origin::ObjectInfo& info) {
  std::string s;
  s.reserve(42 + info.etag.size());
  putInfo(s, info);
  return s;
}

bool readInfo(Reader& r, origin::ObjectInfo& info) {
  uint64_t type = 0, mtime = 0;
  if (!r.u64(type) || type > 1 || !r.u64(info.size) || !r.u64(mtime) || !r.str(info.etag) ||
      !r.u16(info.mode) || !r.u32(info.uid) || !r.u32(info.gid)) {
    return false;
  }
  info.type = type == 1 ? origin::EntryType::kDirectory : origin::EntryType::kFile;
  info.mtimeNs = static_cast<int64_t>(mtime);
  return true;
}

bool decodeInfo(std::string_view bytes, origin::ObjectInfo& info) {
  Reader r(bytes);
  return readInfo(r, info) && r.atEnd();
}

Status corruptRecord(std::string_view key) {
  return Status(Code::kCorrupt, "namespace snapshot record of '" + std::string(key) +
                                    "' is unreadable; `epochfs refresh` lists the origin again");
}

std::string dirPrefix(std::string_view dir) {
  std::string p;
  p.reserve(dir.size() + 2);
  p.push_back(kEntryTag);
  p.append(dir);
  p.push_back('\0');
  return p;
}

}  // namespace

std::string snapshotKey(std::string_view dir, std::string_view name) {
  std::string k = dirPrefix(dir);
  k.append(name);
  return k;
}

std::string NamespaceSnapshot::metaRecord() const {
  std::string meta;
  putStr(meta, kFormat);
  putStr(meta, source_);
  putU64(meta, static_cast<uint64_t>(listedAtSec_.load()));
  putU64(meta, directories_.load());
  putU64(meta, entries_.load());
  std::lock_guard g(rootMu_);
  putInfo(meta, root_);
  return meta;
}

bool NamespaceSnapshot::load() {
  auto meta = store_.getNamespace(kMetaKey);
  if (!meta.isOk()) {
    if (meta.status().code() != Code::kNotFound) {
      spdlog::warn("namespace snapshot unreadable ({}); listing the origin again",
                   meta.status().toString());
    }
    return false;
  }
  Reader r(*meta);
  std::string format, source;
  uint64_t listedAt = 0, dirs = 0, entries = 0;
  origin::ObjectInfo root;
  if (!r.str(format) || format != kFormat || !r.str(source) || !r.u64(listedAt) ||
      !r.u64(dirs) || !r.u64(entries) || !readInfo(r, root) || !r.atEnd() ||
      root.type != origin::EntryType::kDirectory) {
    spdlog::info("namespace: no snapshot of the current format in the cache; listing the origin");
    return false;
  }
  if (source != source_) {
    spdlog::info("namespace snapshot is of {}, not {}; listing the origin", source, source_);
    return false;
  }
  listedAtSec_ = static_cast<int64_t>(listedAt);
  directories_ = dirs;
  entries_ = entries;
  std::lock_guard g(rootMu_);
  root_ = std::move(root);
  return true;
}

origin::ObjectInfo NamespaceSnapshot::root() const {
  std::lock_guard g(rootMu_);
  return root_;
}

Status NamespaceSnapshot::replace(const origin::ObjectInfo& root,
                                  const std::vector<origin::TreeEntry>& tree,
                                  int64_t listedAtSec) {
  std::lock_guard g(updateMu_);
  std::vector<std::pair<std::string, std::string>> records;
  records.reserve(tree.size() + 1);
  uint64_t dirs = 1;  // the root
  for (const auto& e : tree) {
    auto [dir, name] = origin::splitKey(e.key);
    records.emplace_back(snapshotKey(dir, name), encodeInfo(e.info));
    if (e.info.type == origin::EntryType::kDirectory) dirs++;
  }
  listedAtSec_ = listedAtSec;
  directories_ = dirs;
  entries_ = tree.size();
  {
    std::lock_guard r(rootMu_);
    root_ = root;
  }
  records.emplace_back(kMetaKey, metaRecord());
  return store_.saveNamespace(records);
}

Result<origin::ObjectInfo> NamespaceSnapshot::stat(std::string_view key) const {
  auto [dir, name] = origin::splitKey(key);
  auto rec = store_.getNamespace(snapshotKey(dir, name));
  if (!rec.isOk()) {
    if (rec.status().code() == Code::kNotFound) return notFound(std::string(key));
    return rec.status();
  }
  origin::ObjectInfo info;
  if (!decodeInfo(*rec, info)) return corruptRecord(key);
  return info;
}

Result<std::vector<origin::DirEntry>> NamespaceSnapshot::list(std::string_view key) const {
  if (!key.empty()) {
    auto info = stat(key);
    if (!info.isOk()) return info.status();
    if (info->type != origin::EntryType::kDirectory) return notFound(std::string(key));
  }
  const std::string prefix = dirPrefix(key);
  std::vector<origin::DirEntry> out;
  bool bad = false;
  Status st = store_.scanNamespace(prefix, [&](std::string_view k, std::string_view v) {
    origin::DirEntry e;
    e.name.assign(k.substr(prefix.size()));
    if (!decodeInfo(v, e.info)) {
      bad = true;
      return false;
    }
    out.push_back(std::move(e));
    return true;
  });
  if (!st.isOk()) return st;
  if (bad) return corruptRecord(key);
  return out;
}

Status NamespaceSnapshot::update(std::string_view key, const origin::ObjectInfo* info) {
  std::lock_guard g(updateMu_);
  auto [dir, name] = origin::splitKey(key);
  if (!dir.empty()) {
    auto parent = stat(dir);
    if (!parent.isOk()) return parent.status();
    if (parent->type != origin::EntryType::kDirectory) return notFound(std::string(key));
  }
  auto old = stat(key);
  if (!old.isOk() && old.status().code() != Code::kNotFound) return old.status();
  const bool present = old.isOk();
  const bool wasDir = present && old->type == origin::EntryType::kDirectory;
  const bool isDir = info != nullptr && info->type == origin::EntryType::kDirectory;
  if (info == nullptr && !present) return Status::ok();
  if (!present) entries_++;
  if (info == nullptr) entries_--;
  if (isDir && !wasDir) directories_++;
  if (wasDir && !isDir) directories_--;
  std::vector<std::pair<std::string, std::optional<std::string>>> changes;
  changes.emplace_back(snapshotKey(dir, name),
                       info ? std::optional<std::string>(encodeInfo(*info)) : std::nullopt);
  changes.emplace_back(kMetaKey, metaRecord());
  return store_.updateNamespace(changes);
}

}  // namespace epochfs::fs
