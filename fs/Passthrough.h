// fs/Passthrough.h: which opens of dataset files the kernel serves itself (FUSE passthrough),
// and the per-inode bookkeeping the kernel demands for it.
//
// An open of a file the cache holds whole (BlockCache::openWhole: one cache file with exactly
// the file's bytes, verified in full at this open) is answered with a backing id: the kernel
// then serves read(), mmap() and splice from the cache file's page cache and no READ reaches
// the daemon. Every other open takes the cached path (FUSE reads through BlockCache).
//
// The kernel's rules, per inode (fs/fuse/iomode.c): all passthrough opens of an inode must
// name the same backing file; a passthrough open while a page-cache open is outstanding fails
// with EIO, and so does a page-cache open while a passthrough one is. So an inode is in one mode
// while it has opens: the first open decides, later ones follow; the mode can change only once
// every open is released (RELEASE comes after the kernel dropped the file's mode, so counting
// here is conservative). An open that can follow neither (a new version of a file whose old
// version is open through passthrough) is answered with direct I/O, which takes no mode: its
// reads come to the daemon and are right, its mmap fails (ENODEV).
//
// The backing id is dropped (BackingFiles::close) and the cache's hand-out released when the
// inode's last passthrough open is released.
//
// Thread-safe. open() blocks while the cache verifies a file (an SSD read of the file); other
// opens of that inode wait for it, opens of other inodes do not.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cache/BlockCache.h"
#include "fs/BackingFiles.h"

namespace epochfs::fs {

// How the kernel serves one open file.
enum class IoMode : uint8_t {
  kCached,       // FUSE reads, kernel page cache (keep_cache as FileSystem decides)
  kPassthrough,  // the kernel reads the backing file; no READ reaches us
  kDirect,       // FUSE reads, no page cache (a passthrough inode's other version)
};

struct PassthroughStats {
  uint64_t opens = 0;          // opens answered with a backing file
  uint64_t cachedOpens = 0;    // opens that took the cached path (not held whole, or the
                               // inode had page-cache opens)
  uint64_t directOpens = 0;    // opens answered with direct I/O (see above)
  uint64_t backingFiles = 0;   // backing files registered now (inodes in passthrough)
  uint64_t backingFailures = 0;  // registrations the kernel refused (the open took the cached path)
};

class Passthrough {
 public:
  // Both must outlive this.
  Passthrough(cache::BlockCache& cache, BackingFiles& kernel) : cache_(cache), kernel_(kernel) {}
  ~Passthrough();
  Passthrough(const Passthrough&) = delete;
  Passthrough& operator=(const Passthrough&) = delete;

  struct Grant {
    IoMode mode = IoMode::kCached;
    int backingId = 0;  // > 0 for kPassthrough
  };
  // An open of version `file` of dataset inode `ino`. Each open must be ended once, by
  // release(), with the mode it was granted (also when its reply never reached the kernel).
  Grant open(uint64_t ino, const cache::FileRef& file);
  void release(uint64_t ino, IoMode mode);

  PassthroughStats stats() const;

 private:
  struct Inode {
    uint32_t cachedOpens = 0;
    uint32_t passOpens = 0;
    bool opening = false;  // an open of it is being verified and registered (outside mu_)
    int backingId = 0;
    uint64_t pin = 0;      // the cache's hand-out
    std::string etag;      // the version the backing file holds
  };
  // The first open of an idle inode: hand-out and registration, outside mu_.
  Grant openIdle(const cache::FileRef& file, uint64_t& pin);
  void dropIfIdleLocked(uint64_t ino);

  cache::BlockCache& cache_;
  BackingFiles& kernel_;
  mutable std::mutex mu_;
  std::condition_variable opened_;  // an `opening` ended
  std::unordered_map<uint64_t, Inode> inodes_;  // inodes with opens (or one being opened)
  PassthroughStats stats_;
};

}  // namespace epochfs::fs
