#include "fs/FuseServer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "fs/FuseOps.h"

namespace epochfs::fs {

Result<std::unique_ptr<FuseServer>> FuseServer::mount(FileSystem& fs,
                                                      const config::MountOptions& opts) {
  // libfuse splits -o values at commas; a source path with one must not break the options.
  std::string fsname = "epochfs:" + opts.origin.source;
  std::replace(fsname.begin(), fsname.end(), ',', '_');
  // ro: the kernel itself refuses writes (EROFS, access(W_OK) false even for root) and
  // /proc/mounts says so; control requests are ioctls (fs/ControlIoctl.h).
  std::vector<std::string> args = {"epochfs", "-o", "fsname=" + fsname, "-o", "subtype=epochfs",
                                   "-o", "default_permissions", "-o", "ro"};
  if (opts.fuse.allowOther) {
    args.push_back("-o");
    args.push_back("allow_other");
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops& ops = fuseOps();
  const bool wantPassthrough = opts.fuse.passthrough != config::FuseOptions::Passthrough::kOff;
  auto channel = std::make_unique<FuseChannel>(
      wantPassthrough ? passthroughStackDepth(opts.cache.dir) : 0);
  auto ctx = std::make_unique<FuseContext>();
  ctx->fs = &fs;
  ctx->channel = channel.get();
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof(ops), ctx.get());
  fuse_opt_free_args(&fargs);
  if (se == nullptr) return ioError("cannot create a FUSE session (is /dev/fuse available?)");
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return ioError("cannot mount on " + opts.mountpoint +
                   " (FUSE refused; is /dev/fuse available and the mountpoint a directory?)");
  }
  // Now, not earlier: fuse_session_mount sets the session's fd.
  if (Status st = channel->install(se); !st.isOk()) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return st;
  }
  auto server = std::unique_ptr<FuseServer>(
      new FuseServer(se, fs, opts, std::move(ctx), std::move(channel)));
  fs.setKernelNotifier(server.get());
  fs.setRequestCounts(&server->channel_->requests());
  return server;
}

uint32_t passthroughStackDepth(const std::string& cacheDir) {
  struct statfs sfs {};
  if (::statfs(cacheDir.c_str(), &sfs) != 0) return 1;
  return sfs.f_type == OVERLAYFS_SUPER_MAGIC || sfs.f_type == FUSE_SUPER_MAGIC ? 2 : 1;
}

namespace {

// CAP_SYS_ADMIN in the effective set (bit 21 of CapEff): the kernel checks it in the initial
// user namespace, which a process in another one fails anyway (then the probe says so).
bool hasCapSysAdmin() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const uint64_t caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (caps & (1ULL << 21)) != 0;
  }
  return false;
}

}  // namespace

std::string FuseServer::whyNoPassthrough() const {
  const auto offer = channel_->offer();
  if (!offer) return "the kernel's INIT request could not be read";
  if (!offer->passthrough) {
    return "the kernel does not offer it (FUSE protocol 7." + std::to_string(offer->minor) +
           "; it needs Linux 6.9 or later built with CONFIG_FUSE_PASSTHROUGH)";
  }
  if (!channel_->passthroughRequested()) return "the INIT reply could not ask for it";
  if (!hasCapSysAdmin()) {
    return "the daemon lacks CAP_SYS_ADMIN, which the kernel requires to register backing "
           "files (mount as root)";
  }
  // The real thing, once: register a file of the cache dir and drop it again.
  const std::string probe = opts_.cache.dir + "/LOCK";
  const int fd = ::open(probe.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + probe + " to try it: " + strerror(errno);
  Result<int> id = channel_->open(fd);
  const int err = errno;
  ::close(fd);
  if (!id.isOk()) {
    if (err == ELOOP) {
      return "the cache dir " + opts_.cache.dir +
             " is on a stacked filesystem (overlayfs?) deeper than passthrough allows";
    }
    return "the kernel refused to register a backing file in " + opts_.cache.dir + " (" +
           id.status().message() + ")";
  }
  channel_->close(*id);
  return {};
}

Status FuseServer::start() {
  // INIT by hand, before the worker loop: so that the mount is announced only once it works,
  // and passthrough is settled before the first open.
  fuse_buf buf{};
  const int n = fuse_session_receive_buf(se_, &buf);
  if (n <= 0) {
    std::free(buf.mem);
    return ioError("the kernel sent no INIT request on " + opts_.mountpoint +
                   (n < 0 ? ": " + std::string(strerror(-n)) : std::string()));
  }
  fuse_session_process_buf(se_, &buf);
  std::free(buf.mem);
  if (fuse_session_exited(se_)) return ioError("FUSE INIT failed on " + opts_.mountpoint);
  using P = config::FuseOptions::Passthrough;
  if (opts_.fuse.passthrough == P::kOff) {
    fs_.disablePassthrough("fuse.passthrough is off");
    return Status::ok();
  }
  const std::string why = whyNoPassthrough();
  if (why.empty()) {
    fs_.enablePassthrough(*channel_);
    spdlog::info("passthrough on: the kernel reads files the cache holds whole itself");
    return Status::ok();
  }
  if (opts_.fuse.passthrough == P::kOn) {
    return Status(Code::kNotSupported, "fuse.passthrough is on, but " + why);
  }
  spdlog::info("passthrough off, files are read through FUSE: {}", why);
  fs_.disablePassthrough(why);
  return Status::ok();
}

FuseServer::~FuseServer() {
  fs_.setKernelNotifier(nullptr);
  fs_.setRequestCounts(nullptr);
  fs_.disablePassthrough("unmounted");
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

namespace {

void tuneReadAhead(const std::string& mountpoint, uint64_t bytes) {
  // A FUSE mount's read-ahead is its bdi's (named MAJOR:MINOR of the mount's device); the
  // kernel caps it at what the INIT reply said, at most its 128 KiB default, and only sysfs
  // raises it. So wait for INIT (a statfs of the mount goes through only after it), then set it.
  struct statfs sfs {};
  struct stat st {};
  if (::statfs(mountpoint.c_str(), &sfs) != 0 || ::stat(mountpoint.c_str(), &st) != 0) {
    spdlog::debug("read-ahead left as is: {} not reachable: {}", mountpoint,
                  strerror(errno));
    return;
  }
  const std::string path = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" +
                           std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
  std::ofstream f(path);
  f << bytes / 1024 << "\n";
  f.close();
  if (!f) {
    // Unprivileged mounts cannot write sysfs: reads work, with the kernel's default.
    spdlog::warn("fuse.read_ahead: cannot write {} ({}); the kernel's default read-ahead stays",
                 path, strerror(errno));
    return;
  }
  spdlog::info("read-ahead of {} set to {} KiB ({})", mountpoint, bytes / 1024, path);
}

}  // namespace

Status FuseServer::run() {
  if (fuse_set_signal_handlers(se_) != 0) return ioError("cannot install signal handlers");
  signalsInstalled_ = true;
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(opts_.fuse.threads));
  // Every worker stays once started: with fewer idle ones allowed, a busy mount started and
  // ended a worker (a thread and its 1 MiB request buffer) every few hundred requests.
  fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(opts_.fuse.threads));
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  spdlog::info("serving {} on {} with up to {} FUSE threads", opts_.origin.source,
               opts_.mountpoint, opts_.fuse.threads);
  if (opts_.fuse.readAheadBytes > 0) {
    // Beside the loop (it makes requests of its own), detached: if the loop ends first, its
    // statfs fails once the mount goes.
    std::thread(tuneReadAhead, opts_.mountpoint, opts_.fuse.readAheadBytes).detach();
  }
  int rc = fuse_session_loop_mt(se_, cfg);
  fuse_loop_cfg_destroy(cfg);
  if (rc < 0) return ioError("FUSE loop failed: " + std::string(strerror(-rc)));
  spdlog::info("FUSE loop ended{}", rc > 0 ? " by a signal" : "");
  return Status::ok();
}

}  // namespace epochfs::fs
