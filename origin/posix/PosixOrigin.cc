// origin/posix/PosixOrigin.cc: errno stops here; callers see Status codes only.
#include "origin/posix/PosixOrigin.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

namespace epochfs::origin {
namespace {

int64_t mtimeNsOf(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string etagOf(const struct stat& st) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%" PRIx64 "-%" PRIx64 "-%" PRIx64,
                        static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(mtimeNsOf(st)),
                        static_cast<uint64_t>(st.st_ino));
  return std::string(buf, static_cast<size_t>(n));
}

// Only regular files and directories exist as far as the origin's users are concerned.
bool isVisible(const struct stat& st) { return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode); }

ObjectInfo infoOf(const struct stat& st) {
  ObjectInfo info;
  info.mtimeNs = mtimeNsOf(st);
  // The origin's read and execute bits: the mount is read-only, so no write bit is true of
  // it, and setuid, setgid and sticky mean nothing there.
  info.mode = static_cast<uint16_t>(st.st_mode & 0555);
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  if (S_ISDIR(st.st_mode)) {
    info.type = EntryType::kDirectory;
  } else {
    info.type = EntryType::kFile;
    info.size = static_cast<uint64_t>(st.st_size);
    info.etag = etagOf(st);
  }
  return info;
}

// A component that is a file ("a.jpg/x"), a link loop, or a link that leads out of the root
// (EXDEV; ELOOP for a /proc magic link) means the key names nothing, like a missing file does.
bool namesNothing(int err) {
  return err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG || err == EXDEV;
}

// errno from resolving a key -> Status.
Status lookupError(int err, const std::string& what) {
  if (err == EXDEV) return notFound(what + ": a symbolic link on the way leads out of the origin");
  if (namesNothing(err)) return notFound(what + ": " + std::strerror(err));
  return errnoStatus(err, what);
}

// An entry that cannot be stat'ed because of the entry itself (dangling or looping link,
// removed since readdir, a link into an unreadable place) is left out of a listing; any
// other failure means the origin itself is failing and fails the listing.
bool isEntryProblem(int err) { return namesNothing(err) || err == EACCES || err == EPERM; }

// fstat of `key` opened beneath the root (links followed while they stay inside it).
int statBeneath(const RootDir& root, std::string_view key, struct stat& st) {
  UniqueFd fd(root.openBeneath(key, O_PATH));
  if (fd.get() < 0) return -fd.get();
  return ::fstat(fd.get(), &st) == 0 ? 0 : errno;
}

}  // namespace

PosixOrigin::PosixOrigin(std::string rootDir) : root_(std::move(rootDir)), dir_(root_) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string PosixOrigin::pathOf(std::string_view key) const {
  if (key.empty()) return root_;
  std::string path;
  path.reserve(root_.size() + 1 + key.size());
  path.append(root_);
  if (path.empty() || path.back() != '/') path.push_back('/');
  path.append(key);
  return path;
}

Result<ObjectInfo> PosixOrigin::stat(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  struct stat st;
  if (int err = statBeneath(dir_, key, st); err != 0) {
    return lookupError(err, "stat " + pathOf(key));
  }
  if (!isVisible(st)) return notFound("not a regular file or directory: " + pathOf(key));
  return infoOf(st);
}

Result<std::vector<DirEntry>> PosixOrigin::list(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  const std::string path = pathOf(key);
  UniqueFd fd(dir_.openBeneath(key, O_RDONLY | O_DIRECTORY));
  if (fd.get() < 0) {
    int err = -fd.get();
    if (err == ENOTDIR) {
      // Either `key` itself is a file (kNotDirectory) or one of its parents is (kNotFound).
      struct stat st;
      if (statBeneath(dir_, key, st) == 0 && S_ISREG(st.st_mode)) {
        return Status(Code::kNotDirectory, "not a directory: " + path);
      }
      return notFound("no such directory: " + path);
    }
    return lookupError(err, "open directory " + path);
  }
  DIR* dir = ::fdopendir(fd.get());
  if (dir == nullptr) return errnoStatus(errno, "fdopendir " + path);
  fd.release();  // now owned by `dir`
  struct DirCloser {
    DIR* d;
    ~DirCloser() { ::closedir(d); }
  } closer{dir};
  const int dfd = ::dirfd(dir);

  std::vector<DirEntry> entries;
  while (true) {
    errno = 0;
    const struct dirent* de = ::readdir(dir);
    if (de == nullptr) {
      if (errno != 0) return errnoStatus(errno, "readdir " + path);
      break;
    }
    std::string_view name(de->d_name);
    if (name == "." || name == "..") continue;
    struct stat st;
    // The entry itself, relative to the directory opened beneath the root: safe as long as it
    // is not a link, and one syscall per entry for the files of a large directory.
    int err = ::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
    // A link is followed from the root, beneath it: where it leads must be inside the origin
    // (a relative link to a sibling directory of this one is fine), else it is left out.
    if (err == 0 && S_ISLNK(st.st_mode)) err = statBeneath(dir_, joinKey(key, name), st);
    if (err != 0) {
      if (isEntryProblem(err)) continue;
      return errnoStatus(err, "stat " + path + "/" + std::string(name));
    }
    if (!isVisible(st)) continue;
    entries.push_back(DirEntry{std::string(name), infoOf(st)});
  }
  // std::string's operator< compares like memcmp (as unsigned char): bytewise, as promised.
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

Result<size_t> PosixOrigin::read(std::string_view key, std::string_view etag, uint64_t offset,
                                 std::span<std::byte> out) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  const std::string path = pathOf(key);
  // O_NONBLOCK so that opening a FIFO that sneaked into the tree does not hang until a writer
  // shows up; it is cleared below once we know this is a regular file.
  UniqueFd fd(dir_.openBeneath(key, O_RDONLY | O_NONBLOCK));
  if (fd.get() < 0) return lookupError(-fd.get(), "open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return errnoStatus(errno, "fstat " + path);
  if (S_ISDIR(st.st_mode)) return Status(Code::kIsDirectory, "is a directory: " + path);
  if (!S_ISREG(st.st_mode)) return notFound("not a regular file: " + path);
  std::string current = etagOf(st);
  if (current != etag) {
    return stale("file changed at the origin: " + path + " (etag " + std::string(etag) +
                 ", now " + current + ")");
  }
  if (::fcntl(fd.get(), F_SETFL, 0) != 0) return errnoStatus(errno, "fcntl " + path);

  constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  size_t done = 0;
  while (done < out.size() && offset <= kMaxOffset - done) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "read " + path);
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
  }

  // The file may have been rewritten in place while we read it (a rename-over leaves our
  // descriptor on the old, consistent version).
  if (::fstat(fd.get(), &st) != 0) return errnoStatus(errno, "fstat " + path);
  current = etagOf(st);
  if (current != etag) {
    return stale("file changed at the origin while being read: " + path + " (etag " +
                 std::string(etag) + ", now " + current + ")");
  }
  return done;
}

}  // namespace epochfs::origin
