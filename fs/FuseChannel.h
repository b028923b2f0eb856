// fs/FuseChannel.h: what passes between the kernel and libfuse on /dev/fuse, counted and, for
// passthrough, amended.
//
// libfuse 3.14 (Debian 12) cannot negotiate FUSE passthrough (Linux 6.9+): it has no flag for
// it, sends max_stack_depth 0 and knows no backing ids. Its fuse_session_custom_io() hands
// every request read and every reply write to us instead, so the channel
//   - counts each request by opcode (FuseRequestCounts, for .epochfs/stats);
//   - notes what the kernel offers in INIT, and, when asked to, turns FUSE_PASSTHROUGH on in
//     libfuse's INIT reply (fusek::enablePassthrough) on its way to the kernel;
//   - registers and drops backing files with the /dev/fuse ioctls (BackingFiles).
// OPEN replies with a backing id are built by FuseOps.cc itself (fuse_reply_buf), so no other
// reply is touched. docs/design.md ("The read path") says why this and not libfuse 3.17 or our
// own protocol loop.
//
// Thread-safe: the hooks run on every FUSE worker; INIT comes first and alone (the kernel
// sends nothing else before it is answered).
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <optional>

#include "common/Status.h"
#include "fs/BackingFiles.h"
#include "fs/FuseKernel.h"
#include "fs/FuseRequestCounts.h"

struct fuse_session;

namespace epochfs::fs {

class FuseChannel final : public BackingFiles {
 public:
  // `passthroughDepth`: 0 leaves INIT as libfuse answers it; 1 or 2 asks the kernel for
  // passthrough with that max_stack_depth (1: backing files on a plain filesystem; 2: also on
  // overlayfs, but then nothing can stack on the mount).
  explicit FuseChannel(uint32_t passthroughDepth) : depth_(passthroughDepth) {}

  // Puts the channel between libfuse and the kernel on session `se`, which must be mounted and
  // whose userdata must be a FuseContext naming this channel.
  Status install(fuse_session* se);

  const FuseRequestCounts& requests() const { return requests_; }
  // Once INIT is answered: what the kernel offered (nullopt before).
  std::optional<fusek::InitOffer> offer() const;
  // Whether the INIT reply asked for passthrough (the kernel accepts it if it offered it).
  bool passthroughRequested() const { return requested_.load(std::memory_order_acquire); }

  // BackingFiles, on the session's /dev/fuse fd: FUSE_DEV_IOC_BACKING_OPEN / _CLOSE.
  Result<int> open(int fd) override;
  void close(int id) override;

  // The fuse_custom_io hooks; `userdata` is the session's FuseContext.
  static ssize_t readHook(int fd, void* buf, size_t len, void* userdata);
  static ssize_t writevHook(int fd, struct iovec* iov, int count, void* userdata);

 private:
  ssize_t onRead(int fd, void* buf, size_t len);
  ssize_t onWritev(int fd, struct iovec* iov, int count);

  const uint32_t depth_;
  int sessionFd_ = -1;
  FuseRequestCounts requests_;
  // The INIT request's unique id until its reply went out (0: none pending).
  std::atomic<uint64_t> initUnique_{0};
  std::atomic<bool> offered_{false};
  std::atomic<uint32_t> offerMinor_{0};
  std::atomic<bool> offerPassthrough_{false};
  std::atomic<bool> requested_{false};
};

}  // namespace epochfs::fs
