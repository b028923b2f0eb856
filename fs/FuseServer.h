// fs/FuseServer.h: a FUSE session (libfuse3 low-level API) serving a FileSystem.
//
// The only header of the project that stands between fs/ and libfuse; callers never see a
// FUSE type. Requests are served by a bounded pool of fuse.threads workers. Between libfuse
// and the kernel sits a FuseChannel (request counts; FUSE passthrough, which libfuse 3.14
// cannot negotiate itself).
#pragma once

#include <memory>
#include <string>

#include "common/Status.h"
#include "config/Options.h"
#include "fs/FileSystem.h"
#include "fs/FuseChannel.h"
#include "fs/FuseContext.h"

struct fuse_session;

namespace epochfs::fs {

// Also the kernel notifier of its FileSystem while it lives.
class FuseServer final : public KernelNotifier {
 public:
  // Creates the session and mounts it on opts.mountpoint. Fails with a message naming the
  // mountpoint (missing, not a directory, permission, FUSE unavailable).
  static Result<std::unique_ptr<FuseServer>> mount(FileSystem& fs,
                                                   const config::MountOptions& opts);
  ~FuseServer() override;
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Answers the kernel's INIT (the first request of every mount) and settles
  // fuse.passthrough: in effect, or off with the reason logged; with `on`, a passthrough that
  // cannot be had fails here, naming why. Call once, before run().
  Status start();

  // Serves requests until the mount is unmounted or SIGINT/SIGTERM/SIGHUP arrives.
  Status run();

  // KernelNotifier: errors (the kernel holds no such entry or inode) are ignored.
  void invalidateEntry(uint64_t parent, const std::string& name) override;
  void invalidateInode(uint64_t ino) override;

 private:
  FuseServer(fuse_session* se, FileSystem& fs, const config::MountOptions& opts,
             std::unique_ptr<FuseContext> ctx, std::unique_ptr<FuseChannel> channel)
      : se_(se), fs_(fs), opts_(opts), ctx_(std::move(ctx)), channel_(std::move(channel)) {}
  // Why passthrough cannot be had on this mount, or empty when it works (checked by
  // registering one file of the cache dir as a backing file).
  std::string whyNoPassthrough() const;

  fuse_session* se_;
  FileSystem& fs_;
  const config::MountOptions opts_;
  std::unique_ptr<FuseContext> ctx_;  // the session's userdata
  std::unique_ptr<FuseChannel> channel_;
  bool signalsInstalled_ = false;
};

// The max_stack_depth to ask for with backing files in `cacheDir`: 2 where its filesystem is
// stacked (overlayfs, or a FUSE mount that may itself pass through), else 1, which keeps the
// mount usable as the lower layer of an overlayfs.
uint32_t passthroughStackDepth(const std::string& cacheDir);

}  // namespace epochfs::fs
