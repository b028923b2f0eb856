// FUSE callbacks: callbacks only. Each one asks FileSystem, then replies exactly once. Errors
// become errnos only through toErrno(), and are logged here, once, with the operation and inode.
#include "fs/FuseOps.h"

#include <sys/stat.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "fs/ControlFiles.h"
#include "fs/Errno.h"
#include "fs/FileSystem.h"
#include "fs/FuseContext.h"
#include "fs/FuseKernel.h"

namespace epochfs::fs {
namespace {

FileSystem& fsOf(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req))->fs; }

struct stat toStat(const NodeAttr& a) {
  struct stat st {};
  st.st_ino = a.ino;
  st.st_mode = (a.isDir ? S_IFDIR : S_IFREG) | a.perm;
  st.st_nlink = a.isDir ? 2 : 1;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  // A large preferred I/O size makes stdio and Python buffer in big reads.
  st.st_blksize = 128 * 1024;
  st.st_mtim.tv_sec = a.mtimeNs / 1000000000;
  st.st_mtim.tv_nsec = a.mtimeNs % 1000000000;
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  return st;
}

void replyError(fuse_req_t req, const char* op, uint64_t ino, const Status& s) {
  int err = toErrno(s);
  if (err == ENOENT || err == EROFS || err == ENOTTY) {  // ordinary, not daemon trouble
    spdlog::debug("{} ino={}: {}", op, ino, s.toString());
  } else {
    spdlog::warn("{} ino={}: {}", op, ino, s.toString());
  }
  fuse_reply_err(req, err);
}

void doLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  FileSystem& fs = fsOf(req);
  auto attr = fs.lookup(parent, name);
  fuse_entry_param e{};
  e.attr_timeout = fs.attrTimeoutSec();
  e.entry_timeout = fs.attrTimeoutSec();
  if (!attr.isOk()) {
    if (attr.status().code() == Code::kNotFound) {
      // A negative entry: the kernel caches the miss for entry_timeout.
      spdlog::debug("lookup parent={} name={}: not found", parent, name);
      e.ino = 0;
      fuse_reply_entry(req, &e);
      return;
    }
    replyError(req, "lookup", parent, attr.status());
    return;
  }
  e.ino = attr->ino;
  e.attr = toStat(*attr);
  fuse_reply_entry(req, &e);
}

void doForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  fsOf(req).forget(ino, nlookup);
  fuse_reply_none(req);
}

void doForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  FileSystem& fs = fsOf(req);
  for (size_t i = 0; i < count; ++i) fs.forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void doGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  FileSystem& fs = fsOf(req);
  auto attr = fs.getattr(ino);
  if (!attr.isOk()) return replyError(req, "getattr", ino, attr.status());
  struct stat st = toStat(*attr);
  fuse_reply_attr(req, &st, fs.attrTimeoutSec());
}

// A passthrough open is answered with protocol 7.40's fuse_open_out, which libfuse 3.14
// cannot build (FuseChannel.h): no keep_cache (the kernel refuses it with a backing file), no
// direct_io (reads would come to us), noflush as for every file.
int replyPassthroughOpen(fuse_req_t req, const fuse_file_info& fi, int backingId) {
  fusek::OpenOut out;
  out.fh = fi.fh;
  out.openFlags = fusek::kFopenPassthrough | fusek::kFopenNoflush;
  out.backingId = backingId;
  return fuse_reply_buf(req, reinterpret_cast<const char*>(&out), sizeof out);
}

void doOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  FileSystem& fs = fsOf(req);
  auto f = fs.open(ino, fi->flags, ctx != nullptr ? static_cast<uint64_t>(ctx->pid) : 0);
  if (!f.isOk()) return replyError(req, "open", ino, f.status());
  if ((*f)->isControl) {
    fi->direct_io = 1;  // size 0 in getattr; the content is read as it is
  } else if ((*f)->io == IoMode::kDirect) {
    fi->direct_io = 1;  // an inode in passthrough mode takes no page-cache open (Passthrough.h)
  } else {
    fi->keep_cache = (*f)->keepCache ? 1 : 0;
  }
  // Nothing to do at close(): without this the kernel sends a FLUSH and waits for its reply
  // on every close, one round trip of four per small file (Linux >= 5.16; older kernels
  // ignore it, and get ENOSYS from libfuse once, as there is no flush callback).
  fi->noflush = 1;
  OpenFile* open = f->release();
  fi->fh = reinterpret_cast<uint64_t>(open);
  const int rc = open->io == IoMode::kPassthrough
                     ? replyPassthroughOpen(req, *fi, open->backingId)
                     : fuse_reply_open(req, fi);
  if (rc == -ENOENT) {
    // The open was interrupted: the kernel will never send release.
    fs.release(*open);
    delete open;
  }
}

void doRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  const auto& f = *reinterpret_cast<const OpenFile*>(fi->fh);
  thread_local std::vector<std::byte> buf;
  if (buf.size() < size) buf.resize(size);
  auto n = fsOf(req).read(f, static_cast<uint64_t>(off), std::span(buf.data(), size));
  if (!n.isOk()) return replyError(req, "read", ino, n.status());
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
}

void doRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* f = reinterpret_cast<OpenFile*>(fi->fh);
  fsOf(req).release(*f);
  delete f;
  fuse_reply_err(req, 0);
}

void doOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto d = fsOf(req).opendir(ino);
  if (!d.isOk()) return replyError(req, "opendir", ino, d.status());
  if ((*d)->kernelMayCache) {
    fi->cache_readdir = 1;
    fi->keep_cache = 1;  // and keep it past this open
  }
  fi->fh = reinterpret_cast<uint64_t>(d->release());
  if (fuse_reply_open(req, fi) == -ENOENT) delete reinterpret_cast<OpenDir*>(fi->fh);
}

// Offsets: 1 is after ".", 2 after "..", 3 + i after entry i.
void readdirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  FileSystem& fs = fsOf(req);
  const auto& dir = *reinterpret_cast<const OpenDir*>(fi->fh);
  std::vector<char> buf(size);
  size_t used = 0;
  auto add = [&](const char* name, const NodeAttr& a, off_t next) -> bool {
    struct stat st = toStat(a);
    size_t rem = size - used;
    size_t n;
    if (plus) {
      fuse_entry_param e{};
      e.ino = a.ino;
      e.attr = st;
      e.attr_timeout = fs.attrTimeoutSec();
      e.entry_timeout = fs.attrTimeoutSec();
      n = fuse_add_direntry_plus(req, buf.data() + used, rem, name, &e, next);
    } else {
      n = fuse_add_direntry(req, buf.data() + used, rem, name, &st, next);
    }
    if (n > rem) return false;
    used += n;
    return true;
  };
  if (off < 1) {
    NodeAttr self;
    self.ino = ino;
    self.isDir = true;
    // "." and ".." carry no lookup reference in readdirplus (libfuse skips them).
    if (!add(".", self, 1)) return (void)fuse_reply_buf(req, buf.data(), used);
  }
  if (off < 2) {
    NodeAttr parent;
    parent.ino = 1;
    parent.isDir = true;
    if (!add("..", parent, 2)) return (void)fuse_reply_buf(req, buf.data(), used);
  }
  for (size_t i = off < 3 ? 0 : static_cast<size_t>(off - 3); i < dir.entries.size(); ++i) {
    const std::string& name = dir.entries[i].name;
    auto next = static_cast<off_t>(i + 4);
    if (plus) {
      NodeAttr a = fs.lookupEntry(dir, i);
      if (!add(name.c_str(), a, next)) {
        fs.forget(a.ino, 1);  // did not fit: the kernel never saw this reference
        break;
      }
    } else if (!add(name.c_str(), fs.peekEntry(dir, i), next)) {
      break;
    }
  }
  fuse_reply_buf(req, buf.data(), used);
}

void doReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdirCommon(req, ino, size, off, fi, false);
}

void doReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdirCommon(req, ino, size, off, fi, true);
}

void doReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<OpenDir*>(fi->fh);
  fuse_reply_err(req, 0);
}

// Restricted ioctls (the only kind FUSE allows on regular files): the kernel copied in
// in_bufsz = _IOC_SIZE(cmd) bytes for an _IOW command and copies out out_bufsz bytes of the
// reply for an _IOR one. The control structs have one layout for 32- and 64-bit callers, so
// FUSE_IOCTL_COMPAT changes nothing.
void doIoctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void*, fuse_file_info* fi,
             unsigned flags, const void* inBuf, size_t inSize, size_t outSize) {
  // Dataset files have none (isatty() asks every file for TCGETS): answer without a lookup.
  if (!isControlIno(ino) || (flags & FUSE_IOCTL_DIR) != 0) {
    return (void)fuse_reply_err(req, ENOTTY);
  }
  auto& f = *reinterpret_cast<OpenFile*>(fi->fh);
  auto reply = fsOf(req).ioctl(ino, f, cmd,
                               std::string_view(static_cast<const char*>(inBuf), inSize));
  if (!reply.isOk()) return replyError(req, "ioctl", ino, reply.status());
  // Each command's reply is its _IOR struct, whose size the command number carries.
  assert(reply->size() == outSize);
  (void)outSize;  // without asserts
  fuse_reply_ioctl(req, 0, reply->empty() ? nullptr : reply->data(), reply->size());
}

void doStatfs(fuse_req_t req, fuse_ino_t) {
  FsStat s = fsOf(req).statfs();
  struct statvfs st {};
  st.f_bsize = s.blockSize;
  st.f_frsize = s.blockSize;
  st.f_blocks = s.totalBlocks;
  st.f_bfree = s.freeBlocks;
  st.f_bavail = s.freeBlocks;
  st.f_files = s.files;
  st.f_ffree = s.freeFiles;
  st.f_favail = s.freeFiles;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

// Everything that would change the dataset: the mount is read-only.
void erofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }
void doSetattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { erofs(req); }
void doMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { erofs(req); }
void doMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { erofs(req); }
void doUnlink(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void doSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { erofs(req); }
void doRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  erofs(req);
}
void doLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { erofs(req); }
void doWrite(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) {
  erofs(req);
}
void doCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) { erofs(req); }
void doSetxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) { erofs(req); }
void doRemovexattr(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void doFallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) { erofs(req); }

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.lookup = doLookup;
  ops.forget = doForget;
  ops.forget_multi = doForgetMulti;
  ops.getattr = doGetattr;
  ops.open = doOpen;
  ops.read = doRead;
  ops.release = doRelease;
  ops.opendir = doOpendir;
  ops.readdir = doReaddir;
  ops.readdirplus = doReaddirplus;
  ops.releasedir = doReleasedir;
  ops.statfs = doStatfs;
  ops.ioctl = doIoctl;
  ops.setattr = doSetattr;
  ops.mknod = doMknod;
  ops.mkdir = doMkdir;
  ops.unlink = doUnlink;
  ops.rmdir = doUnlink;
  ops.symlink = doSymlink;
  ops.rename = doRename;
  ops.link = doLink;
  ops.write = doWrite;
  ops.create = doCreate;
  ops.setxattr = doSetxattr;
  ops.removexattr = doRemovexattr;
  ops.fallocate = doFallocate;
  return ops;
}();

}  // namespace

const fuse_lowlevel_ops& fuseOps() { return kOps; }

}  // namespace epochfs::fs
