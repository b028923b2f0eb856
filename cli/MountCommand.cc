// `epochfs mount`: options -> checks -> (fork) -> cache, filesystem, FUSE session -> serve.
//
// Everything that can fail fast (config, mountpoint and its lock, origin, cache dir lock) is
// checked before the command returns: by default the command forks a daemon and waits on a
// pipe until the daemon reports "ready" (the mount answers) or an error, which it prints. RocksDB and FUSE
// threads are started only in the daemon, after the fork.
//
// The pipe carries lines: "PHASE <what>" as the daemon starts a step that can take long
// (recovering a large cache, listing a large bucket), then "OK" or "ERR <message>". Each phase
// restarts the --ready-timeout clock, and one still running after a few seconds is shown, so a
// first mount of a bucket with millions of objects reports what it waits for instead of timing
// out; every step is bounded by its own timeouts (S3 requests, retry budgets).
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cache/BlockCache.h"
#include "cli/Commands.h"
#include "cli/Logging.h"
#include "config/ConfigLoader.h"
#include "fs/FileSystem.h"
#include "fs/FuseServer.h"
#include "fs/MountpointLock.h"
#include "fs/Namespace.h"
#include "origin/Origin.h"
#include "policy/Policy.h"

namespace epochfs::cli {
namespace {

int fail(const std::string& message) {
  std::cerr << "epochfs: " << message << "\n";
  return 1;
}

Status applySize(const std::optional<std::string>& flag, const char* name, uint64_t& out) {
  if (!flag) return Status::ok();
  auto v = config::parseSize(*flag);
  if (!v.isOk()) return invalid(std::string(name) + ": " + v.status().message());
  out = *v;
  return Status::ok();
}

Result<config::MountOptions> buildOptions(const MountFlags& f) {
  config::MountOptions o;
  if (!f.configFile.empty()) EPOCHFS_RETURN_IF_ERROR(config::loadConfigFile(f.configFile, o));
  o.origin.source = f.source;
  if (f.cacheDir) o.cache.dir = *f.cacheDir;
  EPOCHFS_RETURN_IF_ERROR(applySize(f.cacheSize, "--cache-size", o.cache.sizeBytes));
  EPOCHFS_RETURN_IF_ERROR(applySize(f.minFree, "--min-free", o.cache.minFreeBytes));
  EPOCHFS_RETURN_IF_ERROR(applySize(f.blockSize, "--block-size", o.cache.blockSizeBytes));
  if (f.policy) o.policy.name = *f.policy;
  if (f.threads) o.fuse.threads = *f.threads;
  if (f.prefetchThreads) {
    if (*f.prefetchThreads < 0) {
      return invalid("--prefetch-threads: " + std::to_string(*f.prefetchThreads) +
                     " is out of range (0.." + std::to_string(config::kMaxPrefetchThreads) +
                     "; leave it out for auto)");
    }
    o.policy.prefetchThreads = *f.prefetchThreads;
  }
  if (f.logLevel) o.log.level = *f.logLevel;
  if (f.logFile) o.log.file = *f.logFile;
  if (f.allowOther) o.fuse.allowOther = true;
  if (f.nonempty) o.fuse.nonempty = true;
  if (f.endpoint) o.origin.s3.endpoint = *f.endpoint;
  if (f.region) o.origin.s3.region = *f.region;
  if (f.metadataTtl) {
    auto ttl = config::parseTtl(*f.metadataTtl);
    if (!ttl.isOk()) return invalid("--metadata-ttl: " + ttl.status().message());
    o.metadata.ttlSec = *ttl;
  }
  if (f.passthrough) {
    auto p = config::parsePassthrough(*f.passthrough);
    if (!p.isOk()) return invalid("--passthrough: " + p.status().message());
    o.fuse.passthrough = *p;
  }
  if (f.passthroughVerify) {
    auto once = config::parsePassthroughVerify(*f.passthroughVerify);
    if (!once.isOk()) return invalid("--passthrough-verify: " + once.status().message());
    o.cache.verifyHandOutsOnce = *once;
  }
  o.foreground = f.foreground;
  std::error_code ec;
  o.mountpoint = std::filesystem::absolute(f.mountpoint, ec).lexically_normal().string();
  if (o.mountpoint.size() > 1 && o.mountpoint.back() == '/') o.mountpoint.pop_back();
  // A foreground mount logs to stderr unless a log file was asked for.
  bool logToStderr = o.foreground && o.log.file.empty();
  EPOCHFS_RETURN_IF_ERROR(config::validate(o));
  if (logToStderr) o.log.file.clear();
  return o;
}

// Mounting over a directory's files hides them as long as the mount is up, which looks like
// losing them; only --nonempty does that on purpose. The smallest name is shown, so the message
// is the same on every run.
Status checkEmpty(const std::string& mp) {
  DIR* dir = ::opendir(mp.c_str());
  if (dir == nullptr) return errnoStatus(errno, "mountpoint " + mp);
  std::string first;
  size_t count = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (count++ == 0 || name < first) first = name;
  }
  ::closedir(dir);
  if (count == 0) return Status::ok();
  const std::string more =
      count == 1 ? "" : " and " + std::to_string(count - 1) + " more entr" +
                            (count == 2 ? "y" : "ies");
  return invalid("mountpoint " + mp + " is not empty (it holds '" + first + "'" + more +
                 "); mounting would hide what it holds: empty it, choose another directory, "
                 "or pass --nonempty (fuse.nonempty: true)");
}

// Runs with the mountpoint's lock held, so no other epochfs mount can start on it between
// these checks and the mount.
Status checkMountpoint(const std::string& mp, bool nonempty) {
  struct stat st {};
  if (::stat(mp.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOTCONN) {
      return invalid("mountpoint " + mp + " is a dead mount (its daemon exited); run 'epochfs "
                     "umount --lazy " + mp + "' first");
    }
    return errnoStatus(err, "mountpoint " + mp);
  }
  if (!S_ISDIR(st.st_mode)) return invalid("mountpoint " + mp + " is not a directory");
  struct stat parent {};
  std::string up = std::filesystem::path(mp).parent_path().string();
  if (mp != "/" && ::stat(up.c_str(), &parent) == 0 && parent.st_dev != st.st_dev) {
    return invalid("mountpoint " + mp + " is already a mount point; unmount it first");
  }
  if (!nonempty) return checkEmpty(mp);
  return Status::ok();
}

// Opens the cache, builds the filesystem, mounts it, calls `ready`, serves until unmounted.
// `phase` is told of each step that may take long.
Status serve(const config::MountOptions& opts, std::unique_ptr<origin::Origin> raw,
             const std::function<void(const std::string&)>& phase,
             const std::function<void()>& ready) {
  // glibc gives a thread that meets contention an arena of its own (up to 8 per core), and
  // memory freed in one arena is not reused by another: with 16 FUSE workers and the
  // prefetchers, that held ~12% more RSS at 200k files (bench/rss_scale.py) and bought no
  // speed on the cores a daemon has. MALLOC_ARENA_MAX, when set, still decides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    ::mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  }
  origin::InstrumentedOrigin origin(std::move(raw));
  auto policy = policy::makePolicy(opts.policy.name);
  if (!policy.isOk()) return policy.status();
  phase("opening the cache in " + opts.cache.dir);
  auto cache = cache::BlockCache::open(opts.cache, origin, std::move(*policy));
  if (!cache.isOk()) return cache.status();
  fs::NamespaceOptions nsOpts;
  nsOpts.ttlSec = opts.metadata.ttlSec;
  nsOpts.source = opts.origin.source;
  if (nsOpts.ttlSec < 0) phase("loading or listing the namespace of " + opts.origin.source);
  auto ns = fs::Namespace::open(nsOpts, origin, (*cache)->namespaceStore());
  if (!ns.isOk()) return ns.status();
  (*cache)->startPrefetch(static_cast<unsigned>(opts.policy.prefetchThreads));
  auto fs = fs::FileSystem::create(opts, origin, origin.counters(), **ns, **cache);
  if (!fs.isOk()) return fs.status();
  auto server = fs::FuseServer::mount(**fs, opts);
  if (!server.isOk()) return server.status();
  if (Status st = (*server)->start(); !st.isOk()) return st;
  spdlog::info("mounted {} on {} (cache {} limit {})", opts.origin.source, opts.mountpoint,
               opts.cache.dir, config::formatSize(opts.cache.sizeBytes));
  ready();
  Status st = (*server)->run();
  server->reset();  // unmount before the cache closes
  spdlog::info("unmounted {}", opts.mountpoint);
  return st;
}

void writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void detachStdio() {
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  ::dup2(null, 0);
  ::dup2(null, 1);
  ::dup2(null, 2);
  if (null > 2) ::close(null);
}

// The daemon side: never returns.
// `lock` is the mountpoint's lock, held until the daemon exits.
[[noreturn]] void runDaemon(const config::MountOptions& opts,
                            std::unique_ptr<origin::Origin> origin, int readyFd,
                            fs::MountpointLock& lock) {
  ::setsid();
  if (::chdir("/") != 0) {
    // Unreachable in practice; nothing else depends on the working directory.
  }
  Status st = setupLogging(opts.log.level, opts.log.file);
  if (!st.isOk()) {
    writeAll(readyFd, "ERR " + st.message() + "\n");
    _exit(1);
  }
  bool announced = false;
  auto phase = [&](const std::string& what) { writeAll(readyFd, "PHASE " + what + "\n"); };
  st = serve(opts, std::move(origin), phase, [&] {
    writeAll(readyFd, "OK\n");
    ::close(readyFd);
    announced = true;
    detachStdio();
  });
  if (!st.isOk()) {
    spdlog::error("mount failed: {}", st.toString());
    if (!announced) writeAll(readyFd, "ERR " + st.message() + "\n");
  }
  lock.release();  // unmounted (or never mounted): the next mount may start
  spdlog::shutdown();
  _exit(st.isOk() ? 0 : 1);
}

// The waiting side: reads the daemon's phases and verdict from the pipe.
int awaitDaemon(pid_t pid, int readFd, const config::MountOptions& opts, int timeoutSec) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kShowAfter = std::chrono::seconds(3);
  std::string pending;  // bytes after the last complete line
  std::string phase;
  bool phaseShown = true;
  auto phaseStart = Clock::now();
  auto deadline = Clock::now() + std::chrono::seconds(timeoutSec);
  auto reap = [&] {
    int status = 0;
    ::waitpid(pid, &status, 0);
  };
  char buf[512];
  while (true) {
    auto now = Clock::now();
    if (!phaseShown && now - phaseStart >= kShowAfter) {
      std::cerr << "epochfs: " << phase << "...\n";
      phaseShown = true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    if (left <= 0) {
      ::kill(pid, SIGTERM);
      return fail("the daemon was not ready within " + std::to_string(timeoutSec) + " s" +
                  (phase.empty() ? "" : " while " + phase) + "; see " + opts.log.file);
    }
    pollfd p{readFd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 250)));
    if (r < 0 && errno != EINTR) return fail(std::string("poll: ") + strerror(errno));
    if (r <= 0) continue;
    ssize_t n = ::read(readFd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the daemon closed the pipe: it exited without a verdict
    pending.append(buf, static_cast<size_t>(n));
    for (size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      if (line == "OK") return 0;
      if (line.rfind("ERR ", 0) == 0) {
        reap();
        return fail(line.substr(4));
      }
      if (line.rfind("PHASE ", 0) == 0) {
        phase = line.substr(6);
        phaseShown = false;
        phaseStart = Clock::now();
        deadline = phaseStart + std::chrono::seconds(timeoutSec);
      }
    }
  }
  reap();
  return fail("the daemon exited before the mount was ready; see " + opts.log.file);
}

}  // namespace

int runMount(const MountFlags& flags) {
  auto opts = buildOptions(flags);
  if (!opts.isOk()) return fail(opts.status().message());
  // Taken before the checks and inherited by the daemon, which holds it until it exits: of
  // two mounts started together on one mountpoint, the second fails here.
  auto lock = fs::MountpointLock::acquire(opts->mountpoint);
  if (!lock.isOk()) return fail(lock.status().message());
  // Until the fork this process is the only holder, so a refusal removes the lock file.
  auto refuse = [&](const std::string& message) {
    lock->release();
    return fail(message);
  };
  Status st = checkMountpoint(opts->mountpoint, opts->fuse.nonempty);
  if (!st.isOk()) return refuse(st.message());
  auto origin = origin::makeOrigin(opts->origin);
  if (!origin.isOk()) return refuse(origin.status().message());
  origin::scrubOriginSecrets(opts->origin);

  if (opts->foreground) {
    st = setupLogging(opts->log.level, opts->log.file);
    if (!st.isOk()) return refuse(st.message());
    st = serve(
        *opts, std::move(*origin), [](const std::string& what) { spdlog::info("{}", what); },
        [] {});
    lock->release();
    if (!st.isOk()) return fail(st.message());
    return 0;
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return refuse(std::string("pipe: ") + strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) return refuse(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    // Only the next mount's message depends on the pid written; the lock is held either way.
    (void)lock->setHolder(::getpid());
    runDaemon(*opts, std::move(*origin), fds[1], *lock);
  }
  ::close(fds[1]);
  int rc = awaitDaemon(pid, fds[0], *opts, flags.readyTimeoutSec);
  ::close(fds[0]);
  return rc;
}

}  // namespace epochfs::cli
