#include "fs/FuseServer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fs/FuseOps.h"

namespace epochfs::fs {

Result<std::unique_ptr<FuseServer>> FuseServer::mount(FileSystem& fs,
                                                      const config::MountOptions& opts) {
  // libfuse splits -o values at commas; a source path with one must not break the options.
  std::string fsname = "epochfs:" + opts.origin.source;
  std::replace(fsname.begin(), fsname.end(), ',', '_');
  std::vector<std::string> args = {"epochfs", "-o", "fsname=" + fsname, "-o", "subtype=epochfs",
                                   "-o", "default_permissions"};
  if (opts.fuse.allowOther) {
    args.push_back("-o");
    args.push_back("allow_other");
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops& ops = fuseOps();
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof(ops), &fs);
  fuse_opt_free_args(&fargs);
  if (se == nullptr) return ioError("cannot create a FUSE session (is /dev/fuse available?)");
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return ioError("cannot mount on " + opts.mountpoint +
                   " (FUSE refused; is /dev/fuse available and the mountpoint a directory?)");
  }
  auto server = std::unique_ptr<FuseServer>(new FuseServer(se, fs, opts));
  fs.setKernelNotifier(server.get());
  return server;
}

FuseServer::~FuseServer() {
  fs_.setKernelNotifier(nullptr);
  if (signalsInstalled_) fuse_remove_signal_handlers(se_);
  fuse_session_unmount(se_);
  fuse_session_destroy(se_);
}

void FuseServer::invalidateEntry(uint64_t parent, const std::string& name) {
  int rc = fuse_lowlevel_notify_inval_entry(se_, parent, name.c_str(), name.size());
  if (rc != 0 && rc != -ENOENT) {
    spdlog::debug("invalidating entry '{}' of ino {}: {}", name, parent, strerror(-rc));
  }
}

void FuseServer::invalidateInode(uint64_t ino) {
  int rc = fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0);
  if (rc != 0 && rc != -ENOENT) spdlog::debug("invalidating ino {}: {}", ino, strerror(-rc));
}

Status FuseServer::run() {
  if (fuse_set_signal_handlers(se_) != 0) return ioError("cannot install signal handlers");
  signalsInstalled_ = true;
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(opts_.fuse.threads));
  fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(std::min(opts_.fuse.threads, 8)));
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  spdlog::info("serving {} on {} with up to {} FUSE threads", opts_.origin.source,
               opts_.mountpoint, opts_.fuse.threads);
  int rc = fuse_session_loop_mt(se_, cfg);
  fuse_loop_cfg_destroy(cfg);
  if (rc < 0) return ioError("FUSE loop failed: " + std::string(strerror(-rc)));
  spdlog::info("FUSE loop ended{}", rc > 0 ? " by a signal" : "");
  return Status::ok();
}

}  // namespace epochfs::fs
