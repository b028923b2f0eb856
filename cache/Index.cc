#include "cache/Index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace epochfs::cache {
namespace {

// Format of a serialized entry; bump when the layout changes (an old layout then decodes as
// kCorrupt and recovery drops it, which costs a refetch, never wrong bytes).
// 2: a flags byte (kEntryObject) and the offset follow the file id; 1 (block files only, at
// offset 0) is still read.
constexpr uint8_t kEntryVersion = 2;
constexpr uint8_t kEntryVersionBlockFiles = 1;
constexpr uint8_t kEntryObject = 1;

void putU32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads fixed-width little-endian fields from a buffer, failing (not asserting) past its end:
// the bytes come from disk.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool u8(uint8_t& v) { return take(1, [&](const unsigned char* p) { v = p[0]; }); }
  bool u32(uint32_t& v) {
    return take(4, [&](const unsigned char* p) {
      v = 0;
      for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
    });
  }
  bool u64(uint64_t& v) {
    return take(8, [&](const unsigned char* p) {
      v = 0;
      for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    });
  }
  bool bytes(size_t n, std::string& out) {
    if (s_.size() - pos_ < n) return false;
    out.assign(s_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  size_t remaining() const { return s_.size() - pos_; }
  bool atEnd() const { return pos_ == s_.size(); }

 private:
  template <typename F>
  bool take(size_t n, F f) {
    if (s_.size() - pos_ < n) return false;
    f(reinterpret_cast<const unsigned char*>(s_.data() + pos_));
    pos_ += n;
    return true;
  }
  std::string_view s_;
  size_t pos_ = 0;
};

Status fromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += s.ToString();
  if (s.IsNotFound()) return notFound(std::move(msg));
  if (s.IsCorruption()) return corrupt(std::move(msg));
  if (s.IsNoSpace()) return {Code::kNoSpace, std::move(msg)};
  return ioError(std::move(msg));
}

uint64_t allocatedOf(const struct stat& st) {
  uint64_t rounded = (static_cast<uint64_t>(st.st_size) + 4095) / 4096 * 4096;
  uint64_t blocks = static_cast<uint64_t>(st.st_blocks) * 512;
  return std::max(rounded, blocks);
}

}  // namespace

std::string blockKey(std::string_view originKey, uint64_t blockNo) {
  std::string k;
  k.reserve(originKey.size() + 9);
  k.append(originKey);
  k.push_back('\0');
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((blockNo >> (8 * i)) & 0xff));
  return k;
}

std::optional<BlockKeyParts> parseBlockKey(std::string_view key) {
  if (key.size() < 9 || key[key.size() - 9] != '\0') return std::nullopt;
  BlockKeyParts parts;
  parts.fileKey = key.substr(0, key.size() - 9);
  for (size_t i = key.size() - 8; i < key.size(); ++i) {
    parts.blockNo = (parts.blockNo << 8) | static_cast<uint8_t>(key[i]);
  }
  return parts;
}

std::string encodeEntry(const IndexEntry& e) {
  std::string s;
  s.reserve(1 + 8 + 1 + 8 + 4 + 4 + e.etag.size() + 4 + 8 * e.checksums.size());
  s.push_back(static_cast<char>(kEntryVersion));
  putU64(s, e.blockId);
  s.push_back(static_cast<char>(e.object ? kEntryObject : 0));
  putU64(s, e.offset);
  putU32(s, e.length);
  putU32(s, static_cast<uint32_t>(e.etag.size()));
  s.append(e.etag);
  putU32(s, static_cast<uint32_t>(e.checksums.size()));
  for (uint64_t c : e.checksums) putU64(s, c);
  return s;
}

Result<IndexEntry> decodeEntry(std::string_view bytes) {
  Reader r(bytes);
  IndexEntry e;
  uint8_t version = 0;
  uint32_t etagLen = 0;
  uint32_t nsums = 0;
  if (!r.u8(version) || (version != kEntryVersion && version != kEntryVersionBlockFiles)) {
    return corrupt("index entry: unknown version");
  }
  if (!r.u64(e.blockId)) return corrupt("index entry: truncated");
  if (version == kEntryVersion) {
    uint8_t flags = 0;
    if (!r.u8(flags) || !r.u64(e.offset)) return corrupt("index entry: truncated");
    if ((flags & ~kEntryObject) != 0) return corrupt("index entry: unknown flags");
    e.object = (flags & kEntryObject) != 0;
    if (!e.object && e.offset != 0) return corrupt("index entry: a block file at an offset");
  }
  if (!r.u32(e.length) || !r.u32(etagLen) || !r.bytes(etagLen, e.etag) ||
      !r.u32(nsums)) {
    return corrupt("index entry: truncated");
  }
  if (r.remaining() != static_cast<size_t>(nsums) * 8) return corrupt("index entry: bad length");
  e.checksums.resize(nsums);
  for (auto& c : e.checksums) {
    if (!r.u64(c)) return corrupt("index entry: truncated checksums");
  }
  return e;
}

constexpr const char* kNamespaceFamily = "namespace";

struct Index::Impl {
  std::unique_ptr<rocksdb::DB> db;
  // Column families: [0] blocks (RocksDB's default family), [1] the namespace snapshot.
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  rocksdb::WriteOptions writeOptions;
};

Index::Index(std::string dir, std::unique_ptr<Impl> impl)
    : dir_(std::move(dir)), impl_(std::move(impl)) {}

Index::~Index() {
  if (impl_ && impl_->db) {
    for (auto* h : impl_->families) {
      rocksdb::Status ds = impl_->db->DestroyColumnFamilyHandle(h);
      (void)ds;
    }
    // Close() waits for background flushes/compactions; the WAL already holds every write, so
    // no flush or fsync is needed here.
    rocksdb::Status s = impl_->db->Close();
    (void)s;  // nothing useful to do with a close error in a destructor
  }
}

Result<std::unique_ptr<Index>> Index::open(const std::string& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  // The index must stay small next to the blocks it describes, since it counts against
  // cache.size: a small memtable keeps WAL and flushed files small, and files are not
  // preallocated (fallocate'd space counts on disk).
  o.write_buffer_size = 256 * 1024;
  o.max_write_buffer_number = 2;
  o.max_total_wal_size = 1 << 20;
  o.target_file_size_base = 2 << 20;
  o.max_manifest_file_size = 1 << 20;
  o.allow_fallocate = false;
  o.max_background_jobs = 2;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.max_log_file_size = 64 * 1024;
  o.keep_log_file_num = 1;
  o.stats_dump_period_sec = 0;
  o.stats_persist_period_sec = 0;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = nullptr;  // default small cache; the index is read once, at open
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));

  o.create_missing_column_families = true;  // an index made before the namespace family
  rocksdb::ColumnFamilyOptions cfo(o);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cfo}, {kNamespaceFamily, cfo}};

  // Private, like the rest of the cache dir. RocksDB creates its files 0644 under umask 022
  // (Env::SetAllowNonOwnerAccess does not reach its file system in 7.8), so the dir is 0700,
  // which denies access to every file in it whatever its own mode; the files there at open are
  // made 0600 as well (below).
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return errnoStatus(errno, "mkdir index " + dir);
  }
  if (::chmod(dir.c_str(), 0700) != 0) return errnoStatus(errno, "chmod index " + dir);

  rocksdb::DB* raw = nullptr;
  auto impl = std::make_unique<Impl>();
  rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(o), dir, cfs, &impl->families, &raw);
  if (!s.ok()) {
    // A file the index names is gone (a MANIFEST, or the one CURRENT points to): the index is
    // damaged, like a corrupt file, and no retry will bring it back. (An index dir that does
    // not exist yet is created, so this is never the first open.)
    struct stat st {};
    if (s.IsPathNotFound() && ::stat((dir + "/CURRENT").c_str(), &st) == 0) {
      return corrupt("open index " + dir + ": a file it names is missing: " + s.ToString());
    }
    return fromRocks(s, "open index " + dir);
  }
  impl->db.reset(raw);
  impl->writeOptions.sync = false;  // see the header: WAL without fsync
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* de = ::readdir(d)) {
      if (de->d_name[0] != '.') (void)::fchmodat(::dirfd(d), de->d_name, 0600, 0);
    }
    ::closedir(d);
  }
  return std::unique_ptr<Index>(new Index(dir, std::move(impl)));
}

Status Index::put(std::string_view key, const IndexEntry& entry) {
  std::string value = encodeEntry(entry);
  rocksdb::Status s = impl_->db->Put(impl_->writeOptions, rocksdb::Slice(key.data(), key.size()),
                                     rocksdb::Slice(value));
  if (!s.ok()) return fromRocks(s, "index put");
  return Status::ok();
}

Result<IndexEntry> Index::get(std::string_view key) const {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (!s.ok()) return fromRocks(s, "index get");
  return decodeEntry(value);
}

Status Index::erase(std::string_view key) {
  rocksdb::Status s =
      impl_->db->Delete(impl_->writeOptions, rocksdb::Slice(key.data(), key.size()));
  if (!s.ok()) return fromRocks(s, "index erase");
  return Status::ok();
}

Status Index::forEach(
    const std::function<void(std::string_view key, Result<IndexEntry> entry)>& fn) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    rocksdb::Slice v = it->value();
    fn(std::string_view(k.data(), k.size()), decodeEntry(std::string_view(v.data(), v.size())));
  }
  if (!it->status().ok()) return fromRocks(it->status(), "index scan");
  return Status::ok();
}

Status Index::replaceNamespace(
    const std::vector<std::pair<std::string, std::string>>& records) {
  rocksdb::ColumnFamilyHandle* cf = impl_->families.at(1);
  rocksdb::WriteBatch batch;
  {
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::Status ds = batch.Delete(cf, it->key());
      if (!ds.ok()) return fromRocks(ds, "namespace delete");
    }
    if (!it->status().ok()) return fromRocks(it->status(), "namespace scan");
  }
  for (const auto& [k, v] : records) {
    rocksdb::Status ps = batch.Put(cf, k, v);
    if (!ps.ok()) return fromRocks(ps, "namespace put");
  }
  rocksdb::Status s = impl_->db->Write(impl_->writeOptions, &batch);
  if (!s.ok()) return fromRocks(s, "namespace write");
  return Status::ok();
}

Status Index::updateNamespace(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) {
  rocksdb::ColumnFamilyHandle* cf = impl_->families.at(1);
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : changes) {
    rocksdb::Status bs = v ? batch.Put(cf, k, *v) : batch.Delete(cf, k);
    if (!bs.ok()) return fromRocks(bs, "namespace update");
  }
  rocksdb::Status s = impl_->db->Write(impl_->writeOptions, &batch);
  if (!s.ok()) return fromRocks(s, "namespace write");
  return Status::ok();
}

Result<std::string> Index::getNamespace(std::string_view key) const {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->families.at(1),
                                     rocksdb::Slice(key.data(), key.size()), &value);
  if (!s.ok()) return fromRocks(s, "namespace get");
  return value;
}

Status Index::scanNamespace(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->families.at(1)));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    std::string_view key(k.data(), k.size());
    if (!key.starts_with(prefix)) break;
    rocksdb::Slice v = it->value();
    if (!fn(key, std::string_view(v.data(), v.size()))) break;
  }
  if (!it->status().ok()) return fromRocks(it->status(), "namespace scan");
  return Status::ok();
}

uint64_t Index::diskBytes() const {
  uint64_t total = 0;
  struct stat st {};
  if (::stat(dir_.c_str(), &st) == 0) total += allocatedOf(st);
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return total;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    // fstatat: RocksDB may delete a file between readdir and stat; skip it then.
    if (::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) total += allocatedOf(st);
  }
  ::closedir(d);
  return total;
}

}  // namespace epochfs::cache
