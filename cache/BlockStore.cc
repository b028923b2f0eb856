#include "cache/BlockStore.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace epochfs::cache {
namespace {

std::string hex(uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

bool parseHex(const char* s, size_t digits, uint64_t& out) {
  if (std::strlen(s) != digits) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = s[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  out = v;
  return true;
}

Status makeDir(const std::string& path) {
  // Private: blocks are the dataset's bytes, whatever the origin file's own mode was.
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno != EEXIST) return errnoStatus(errno, "mkdir " + path);
  }
  return Status::ok();
}

constexpr uint64_t kPage = 4096;  // the allocation unit allocatedBytes() assumes

bool isDots(const char* name) { return std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0; }

// Whether the filesystem of `dir` deallocates a punched range: a file of two 4 KiB pages, the
// first punched out.
bool probePunch(const std::string& dir) {
  const std::string path = dir + "/punch-probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  char pages[2 * kPage] = {1};
  const bool ok = ::pwrite(fd, pages, sizeof pages, 0) == static_cast<ssize_t>(sizeof pages) &&
                  ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, kPage) == 0;
  ::close(fd);
  ::unlink(path.c_str());
  return ok;
}

// Whether files can be created unnamed in `dir` (O_TMPFILE) and then linked by their
// /proc/self/fd name (which needs no privilege, unlike AT_EMPTY_PATH).
bool probeTmpfile(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::string name = "/proc/self/fd/" + std::to_string(fd);
  const bool ok = ::access(name.c_str(), F_OK) == 0;
  ::close(fd);
  return ok;
}

// Writes all of `bytes` to `fd` from its current offset (`what` names it in errors).
Status writeAll(int fd, std::span<const std::byte> bytes, const std::string& what) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

uint64_t dirAllocated(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace

Result<std::unique_ptr<BlockStore>> BlockStore::open(const std::string& dir) {
  EPOCHFS_RETURN_IF_ERROR(makeDir(dir + "/blocks"));
  EPOCHFS_RETURN_IF_ERROR(makeDir(dir + "/tmp"));
  // Made by an older version (0755), perhaps: private now. The cache root (BlockCache::open)
  // already denies access; this keeps each level right on its own.
  for (const char* sub : {"/blocks", "/tmp"}) {
    const std::string p = dir + sub;
    if (::chmod(p.c_str(), 0700) != 0) return errnoStatus(errno, "chmod " + p);
  }
  std::string tmp = dir + "/tmp";
  std::unique_ptr<BlockStore> store(
      new BlockStore(dir, probePunch(tmp), probeTmpfile(dir + "/blocks")));
  DIR* d = ::opendir(tmp.c_str());
  if (d == nullptr) return errnoStatus(errno, "opendir " + tmp);
  while (struct dirent* de = ::readdir(d)) {
    if (isDots(de->d_name)) continue;
    if (::unlinkat(::dirfd(d), de->d_name, 0) == 0) ++store->tmpRemoved_;
  }
  ::closedir(d);
  return store;
}

std::string BlockStore::subdirPath(BlockFileId id) const { return dir_ + "/blocks/" + hex(toU64(id) & 0xff, 2); }

std::string BlockStore::blockPath(BlockFileId id) const { return subdirPath(id) + "/" + hex(toU64(id), 16); }

std::string BlockStore::tmpPath(BlockFileId id) const { return dir_ + "/tmp/" + hex(toU64(id), 16); }

Status BlockStore::write(BlockFileId id, std::span<const std::byte> bytes) {
  if (!linksTmpfiles_) return writeRenamed(id, bytes);
  // An unnamed file in the block's own subdir, linked under its name once complete: no lock
  // on a directory shared by every write (tmp/'s, and the filesystem's rename lock a rename
  // across directories takes), and nothing to clean up after a crash.
  const std::string sub = subdirPath(id);
  int fd = ::open(sub.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) {
    // The subdir's first block (or it vanished behind our back). Made only then: a mkdir, even
    // of a dir that exists, locks blocks/ for every writer.
    EPOCHFS_RETURN_IF_ERROR(makeDir(sub));
    fd = ::open(sub.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  }
  if (fd < 0) return errnoStatus(errno, "create a block file in " + sub);
  const std::string dst = blockPath(id);
  Status st = writeAll(fd, bytes, dst);
  if (st.isOk()) {
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, dst.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      st = errnoStatus(errno, "link " + dst);
    }
  }
  // close() can report a deferred write error (NFS, quota); treat it like a write error.
  if (::close(fd) != 0 && st.isOk()) {
    st = errnoStatus(errno, "close " + dst);
    ::unlink(dst.c_str());
  }
  return st;
}

Status BlockStore::writeRenamed(BlockFileId id, std::span<const std::byte> bytes) {
  std::string tmp = tmpPath(id);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errnoStatus(errno, "create " + tmp);
  Status st = writeAll(fd, bytes, tmp);
  // close() can report a deferred write error (NFS, quota); treat it like a write error.
  if (::close(fd) != 0 && st.isOk()) st = errnoStatus(errno, "close " + tmp);
  if (st.isOk()) st = makeDir(subdirPath(id));
  if (st.isOk()) {
    std::string dst = blockPath(id);
    if (::rename(tmp.c_str(), dst.c_str()) != 0) st = errnoStatus(errno, "rename to " + dst);
  }
  if (!st.isOk()) ::unlink(tmp.c_str());
  return st;
}

Status BlockStore::writeAt(BlockFileId id, uint64_t offset, std::span<const std::byte> bytes) {
  const std::string path = blockPath(id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) {
    EPOCHFS_RETURN_IF_ERROR(makeDir(subdirPath(id)));  // its subdir's first file (see write())
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  }
  if (fd < 0) return errnoStatus(errno, "create " + path);
  Status st;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      st = errnoStatus(errno, "write " + path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!st.isOk()) {
    // Best effort: what was written of the range must not stay allocated unindexed (recovery
    // would punch it out too). To the end of its last page, which a partial punch only zeroes:
    // a block's slot is a whole number of pages (cache.block_size), so that stays in it.
    const uint64_t pages = (bytes.size() + kPage - 1) / kPage * kPage;
    (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                      static_cast<off_t>(pages));
  }
  if (::close(fd) != 0 && st.isOk()) st = errnoStatus(errno, "close " + path);
  return st;
}

Status BlockStore::punch(BlockFileId id, uint64_t offset, uint64_t length) {
  const std::string path = blockPath(id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::ok() : errnoStatus(errno, "open " + path);
  Status st;
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) != 0) {
    st = errnoStatus(errno, "punch " + std::to_string(length) + " bytes at " +
                                std::to_string(offset) + " of " + path);
  }
  ::close(fd);
  return st;
}

Result<std::vector<BlockStore::Range>> BlockStore::dataRanges(BlockFileId id) const {
  const std::string path = blockPath(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoStatus(errno, "open " + path);
  std::vector<Range> ranges;
  int err = 0;
  off_t at = 0;
  for (;;) {
    const off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) err = errno;  // ENXIO: no data past `at`
      break;
    }
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
      err = errno;
      break;
    }
    ranges.push_back({static_cast<uint64_t>(data), static_cast<uint64_t>(hole)});
    at = hole;
  }
  ::close(fd);
  if (err != 0) return errnoStatus(err, "seek data of " + path);
  return ranges;
}

Result<size_t> BlockStore::pread(BlockFileId id, uint64_t offset, std::span<std::byte> out,
                                 uint64_t readAheadTo) const {
  std::string path = blockPath(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoStatus(errno, "open " + path);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return errnoStatus(err, "read " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  const uint64_t end = offset + done;
  if (readAheadTo > end) {
    // Advice only: its failure changes nothing but speed.
    (void)::posix_fadvise(fd, static_cast<off_t>(end), static_cast<off_t>(readAheadTo - end),
                          POSIX_FADV_WILLNEED);
  }
  ::close(fd);
  return done;
}

Result<int> BlockStore::openRead(BlockFileId id) const {
  std::string path = blockPath(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoStatus(errno, "open " + path);
  return fd;
}

Status BlockStore::remove(BlockFileId id) {
  std::string path = blockPath(id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errnoStatus(errno, "unlink " + path);
  return Status::ok();
}

Result<std::vector<BlockStore::FileInfo>> BlockStore::list() {
  std::vector<FileInfo> files;
  std::string blocks = dir_ + "/blocks";
  DIR* top = ::opendir(blocks.c_str());
  if (top == nullptr) return errnoStatus(errno, "opendir " + blocks);
  while (struct dirent* de = ::readdir(top)) {
    if (isDots(de->d_name)) continue;
    uint64_t sub = 0;
    std::string subPath = blocks + "/" + de->d_name;
    struct stat st {};
    if (::fstatat(::dirfd(top), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISDIR(st.st_mode) || !parseHex(de->d_name, 2, sub)) {
      if (!S_ISDIR(st.st_mode)) ::unlinkat(::dirfd(top), de->d_name, 0);
      continue;  // a foreign directory: not ours to delete
    }
    DIR* d = ::opendir(subPath.c_str());
    if (d == nullptr) {
      ::closedir(top);
      return errnoStatus(errno, "opendir " + subPath);
    }
    while (struct dirent* fe = ::readdir(d)) {
      if (isDots(fe->d_name)) continue;
      uint64_t id = 0;
      bool named = parseHex(fe->d_name, 16, id) && (id & 0xff) == sub;
      if (::fstatat(::dirfd(d), fe->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (named && S_ISREG(st.st_mode)) {
        files.push_back({BlockFileId{id}, static_cast<uint64_t>(st.st_size)});
      } else if (!S_ISDIR(st.st_mode)) {
        ::unlinkat(::dirfd(d), fe->d_name, 0);
      }
    }
    ::closedir(d);
  }
  ::closedir(top);
  return files;
}

uint64_t BlockStore::directoryBytes() const {
  uint64_t total = dirAllocated(dir_) + dirAllocated(dir_ + "/blocks") + dirAllocated(dir_ + "/tmp");
  std::string prefix = dir_ + "/blocks/";
  for (uint64_t sub = 0; sub < 256; ++sub) total += dirAllocated(prefix + hex(sub, 2));
  return total;
}

}  // namespace epochfs::cache
