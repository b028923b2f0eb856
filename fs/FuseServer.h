// fs/FuseServer.h: a FUSE session (libfuse3 low-level API) serving a FileSystem.
//
// The only header of the project that stands between fs/ and libfuse; callers never see a
// FUSE type. Requests are served by a bounded pool of fuse.threads workers.
#pragma once

#include <memory>

#include "common/Status.h"
#include "config/Options.h"
#include "fs/FileSystem.h"

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

  // Serves requests until the mount is unmounted or SIGINT/SIGTERM/SIGHUP arrives.
  Status run();

  // KernelNotifier: errors (the kernel holds no such entry or inode) are ignored.
  void invalidateEntry(uint64_t parent, const std::string& name) override;
  void invalidateInode(uint64_t ino) override;

 private:
  FuseServer(fuse_session* se, FileSystem& fs, const config::MountOptions& opts)
      : se_(se), fs_(fs), opts_(opts) {}
  fuse_session* se_;
  FileSystem& fs_;
  const config::MountOptions opts_;
  bool signalsInstalled_ = false;
};

}  // namespace epochfs::fs
