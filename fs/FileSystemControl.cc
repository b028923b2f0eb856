// fs/FileSystemControl.cc: the ioctls on .epochfs/ control files (fs/ControlIoctl.h), and the
// refresh of the namespace behind kIocRefresh.
//
// Why ioctls: the mount is read-only to the kernel, which refuses any open for writing with
// EROFS before the daemon sees it, so the control files cannot be written; an ioctl works on
// a file opened O_RDONLY.
#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "fs/FileSystem.h"

namespace epochfs::fs {
namespace {

template <typename T>
std::string asBytes(const T& value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

}  // namespace

Result<std::string> FileSystem::ioctl(uint64_t ino, OpenFile& f, uint32_t cmd,
                                      std::string_view in) {
  auto reply = dispatchIoctl(ino, f, cmd, in);
  if (cmd != kIocLastError) f.lastError = reply.isOk() ? "" : reply.status().message();
  return reply;
}

Result<std::string> FileSystem::dispatchIoctl(uint64_t ino, OpenFile& f, uint32_t cmd,
                                              std::string_view in) {
  const bool isPlan = ino == kPlanIno && f.plan != nullptr;
  const bool isControl = ino == kPlanIno || ino == kRefreshIno;
  if (cmd == kIocLastError && isControl) {
    ControlError e{};
    const size_t n = std::min(f.lastError.size(), sizeof e.message - 1);
    std::memcpy(e.message, f.lastError.data(), n);
    return asBytes(e);
  }
  if (cmd == kIocPlanAppend && isPlan) {
    // The kernel copies exactly _IOC_SIZE(cmd) bytes, so a shorter buffer is a bug of ours.
    if (in.size() != sizeof(PlanChunk)) return invalid("plan chunk of the wrong size");
    uint32_t length = 0;
    std::memcpy(&length, in.data() + offsetof(PlanChunk, length), sizeof length);
    if (length > kPlanChunkBytes) {
      return invalid("plan chunk length " + std::to_string(length) + " > " +
                     std::to_string(kPlanChunkBytes));
    }
    uint32_t flags = 0;
    std::memcpy(&flags, in.data() + offsetof(PlanChunk, flags), sizeof flags);
    if ((flags & ~kPlanResumes) != 0) {
      return invalid("unknown plan chunk flags " + std::to_string(flags & ~kPlanResumes));
    }
    if ((flags & kPlanResumes) != 0) f.planResumes = true;
    EPOCHFS_RETURN_IF_ERROR(planAppend(f, in.substr(offsetof(PlanChunk, data), length)));
    return std::string();
  }
  if (cmd == kIocPlanCommit && isPlan) {
    auto result = planCommit(f);
    if (!result.isOk()) return result.status();
    return asBytes(*result);
  }
  if (cmd == kIocPlanAbort && isPlan) {
    planAbort(f);
    return std::string();
  }
  if (cmd == kIocRefresh && ino == kRefreshIno) {
    EPOCHFS_RETURN_IF_ERROR(refresh());
    return std::string();
  }
  return Status(Code::kNotSupported, "no such control command on this file");
}

Status FileSystem::refresh() {
  spdlog::info("refresh requested through .epochfs/refresh");
  // The names each directory the kernel knows held before, to find the ones that appear.
  std::unordered_map<std::string, std::vector<std::string>> before;
  if (notifier_ != nullptr) {
    for (const Inode& node : inodes_.all()) {
      if (node.info.type != origin::EntryType::kDirectory) continue;
      auto entries = ns_.list(node.key);
      if (!entries.isOk()) continue;
      auto& names = before[node.key];
      for (const auto& e : *entries) names.push_back(e.name);
    }
  }
  EPOCHFS_RETURN_IF_ERROR(ns_.refresh());
  {
    // Directories may have new files: the next open in each lists it again.
    std::lock_guard<std::mutex> g(discoverMu_);
    discoveredDirs_.clear();
  }
  revalidateAfterRefresh(before);
  return Status::ok();
}

}  // namespace epochfs::fs
