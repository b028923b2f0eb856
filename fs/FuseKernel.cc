#include "fs/FuseKernel.h"

#include <cstring>

namespace epochfs::fs::fusek {
namespace {

template <typename T>
T load(std::span<const std::byte> b, size_t at) {
  T v{};
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

template <typename T>
void store(std::span<std::byte> b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

// fuse_init_in after the header: major +0, minor +4, max_readahead +8, flags +12, flags2 +16.
constexpr size_t kInitInFlags2End = 20;
// fuse_init_out: flags +12, flags2 +32, max_stack_depth +36.
constexpr size_t kOutFlags = 12;
constexpr size_t kOutFlags2 = 32;
constexpr size_t kOutStackDepth = 36;

}  // namespace

std::string_view opcodeName(uint32_t op) {
  switch (op) {
    case kLookup: return "lookup";
    case kForget: return "forget";
    case kGetattr: return "getattr";
    case kOpen: return "open";
    case kRead: return "read";
    case kStatfs: return "statfs";
    case kRelease: return "release";
    case kGetxattr: return "getxattr";
    case kListxattr: return "listxattr";
    case kFlush: return "flush";
    case kInit: return "init";
    case kOpendir: return "opendir";
    case kReaddir: return "readdir";
    case kReleasedir: return "releasedir";
    case kAccess: return "access";
    case kInterrupt: return "interrupt";
    case kDestroy: return "destroy";
    case kIoctl: return "ioctl";
    case kPoll: return "poll";
    case kBatchForget: return "batch_forget";
    case kReaddirplus: return "readdirplus";
    case kLseek: return "lseek";
    case kStatx: return "statx";
    default: return {};
  }
}

uint32_t requestOpcode(std::span<const std::byte> request) {
  return request.size() < kInHeaderSize ? 0 : load<uint32_t>(request, 4);
}

uint64_t requestUnique(std::span<const std::byte> request) {
  return request.size() < kInHeaderSize ? 0 : load<uint64_t>(request, 8);
}

std::optional<InitOffer> parseInit(std::span<const std::byte> request) {
  if (requestOpcode(request) != kInit || request.size() < kInHeaderSize + 16) return std::nullopt;
  const auto in = request.subspan(kInHeaderSize);
  InitOffer o;
  o.major = load<uint32_t>(in, 0);
  o.minor = load<uint32_t>(in, 4);
  const auto flags = load<uint32_t>(in, 12);
  // Kernels before 7.36 send a 16-byte fuse_init_in without flags2.
  if ((flags & kInitExt) != 0 && in.size() >= kInitInFlags2End) {
    o.passthrough = (load<uint32_t>(in, 16) & kPassthrough2) != 0;
  }
  return o;
}

bool enablePassthrough(std::span<std::byte> initOut, uint32_t stackDepth) {
  if (initOut.size() < kOutStackDepth + 4 || stackDepth == 0 || stackDepth > kMaxStackDepth) {
    return false;
  }
  auto flags = load<uint32_t>(initOut, kOutFlags);
  if ((flags & kWritebackCache) != 0) return false;
  store<uint32_t>(initOut, kOutFlags, flags | kInitExt);
  store<uint32_t>(initOut, kOutFlags2, load<uint32_t>(initOut, kOutFlags2) | kPassthrough2);
  store<uint32_t>(initOut, kOutStackDepth, stackDepth);
  return true;
}

}  // namespace epochfs::fs::fusek
