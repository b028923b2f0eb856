#define FUSE_USE_VERSION 314
#include "fs/FuseChannel.h"

#include <fuse_lowlevel.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "fs/FuseContext.h"

namespace epochfs::fs {
namespace {

FuseChannel& channelOf(void* userdata) { return *static_cast<FuseContext*>(userdata)->channel; }

}  // namespace

Status FuseChannel::install(fuse_session* se) {
  static const fuse_custom_io kIo = [] {
    fuse_custom_io io{};
    io.read = &FuseChannel::readHook;
    io.writev = &FuseChannel::writevHook;
    // No splice hooks: libfuse then neither advertises nor uses splice, which epochfs never
    // used (replies are built in memory, there is no write_buf callback).
    return io;
  }();
  sessionFd_ = fuse_session_fd(se);
  const int rc = fuse_session_custom_io(se, &kIo, sessionFd_);
  if (rc != 0) {
    return ioError("cannot install the FUSE channel hooks: " + std::string(strerror(-rc)));
  }
  return Status::ok();
}

std::optional<fusek::InitOffer> FuseChannel::offer() const {
  if (!offered_.load(std::memory_order_acquire)) return std::nullopt;
  fusek::InitOffer o;
  o.major = 7;
  o.minor = offerMinor_.load(std::memory_order_relaxed);
  o.passthrough = offerPassthrough_.load(std::memory_order_relaxed);
  return o;
}

ssize_t FuseChannel::readHook(int fd, void* buf, size_t len, void* userdata) {
  return channelOf(userdata).onRead(fd, buf, len);
}

ssize_t FuseChannel::writevHook(int fd, struct iovec* iov, int count, void* userdata) {
  return channelOf(userdata).onWritev(fd, iov, count);
}

ssize_t FuseChannel::onRead(int fd, void* buf, size_t len) {
  const ssize_t n = ::read(fd, buf, len);
  if (n <= 0) return n;  // errno as read(2) left it: libfuse handles EINTR, ENODEV, ...
  const std::span<const std::byte> req(static_cast<const std::byte*>(buf), static_cast<size_t>(n));
  const uint32_t op = fusek::requestOpcode(req);
  requests_.count(op);
  if (op == fusek::kInit) {
    if (auto o = fusek::parseInit(req)) {
      offerMinor_.store(o->minor, std::memory_order_relaxed);
      offerPassthrough_.store(o->passthrough, std::memory_order_relaxed);
      initUnique_.store(fusek::requestUnique(req), std::memory_order_release);
    }
  }
  return n;
}

ssize_t FuseChannel::onWritev(int fd, struct iovec* iov, int count) {
  const uint64_t initUnique = initUnique_.load(std::memory_order_acquire);
  if (initUnique == 0 || count < 1 || iov[0].iov_len < fusek::kOutHeaderSize) {
    return ::writev(fd, iov, count);
  }
  uint64_t unique = 0;
  std::memcpy(&unique, static_cast<const char*>(iov[0].iov_base) + 8, sizeof unique);
  if (unique != initUnique) return ::writev(fd, iov, count);
  // The INIT reply: header in iov[0], fuse_init_out in iov[1] (an error reply has no body).
  initUnique_.store(0, std::memory_order_relaxed);
  std::array<std::byte, 64> body{};
  bool patched = false;
  if (depth_ > 0 && offerPassthrough_.load(std::memory_order_relaxed) && count == 2 &&
      iov[1].iov_len <= body.size()) {
    std::memcpy(body.data(), iov[1].iov_base, iov[1].iov_len);
    patched = fusek::enablePassthrough(std::span(body.data(), iov[1].iov_len), depth_);
  }
  ssize_t n;
  if (patched) {
    std::array<struct iovec, 2> out = {iov[0], {body.data(), iov[1].iov_len}};
    n = ::writev(fd, out.data(), 2);
  } else {
    n = ::writev(fd, iov, count);
  }
  const int err = errno;
  // The kernel has processed the reply once the write returns (process_init_reply runs in it).
  requested_.store(patched && n >= 0, std::memory_order_release);
  offered_.store(true, std::memory_order_release);
  errno = err;
  return n;
}

Result<int> FuseChannel::open(int fd) {
  fusek::BackingMap map;
  map.fd = fd;
  const int id = ::ioctl(sessionFd_, fusek::kIocBackingOpen, &map);
  if (id < 0) {
    const int err = errno;
    Status st = errnoStatus(err, "FUSE_DEV_IOC_BACKING_OPEN");
    errno = err;  // callers tell ELOOP from EPERM by it
    return st;
  }
  return id;
}

void FuseChannel::close(int id) {
  uint32_t arg = static_cast<uint32_t>(id);
  if (::ioctl(sessionFd_, fusek::kIocBackingClose, &arg) != 0) {
    // The kernel frees every backing file with the connection; a leaked id costs nothing else.
    spdlog::warn("FUSE_DEV_IOC_BACKING_CLOSE of backing file {}: {}", id, strerror(errno));
  }
}

}  // namespace epochfs::fs
