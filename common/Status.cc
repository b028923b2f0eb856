#include "common/Status.h"

#include <cerrno>
#include <cstring>

namespace epochfs {

std::string_view codeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kPermissionDenied: return "PermissionDenied";
    case Code::kStale: return "Stale";
    case Code::kUnavailable: return "Unavailable";
    case Code::kCorrupt: return "Corrupt";
    case Code::kNoSpace: return "NoSpace";
    case Code::kCancelled: return "Cancelled";
    case Code::kInvalid: return "Invalid";
    case Code::kReadOnly: return "ReadOnly";
    case Code::kNotDirectory: return "NotDirectory";
    case Code::kIsDirectory: return "IsDirectory";
    case Code::kBusy: return "Busy";
    case Code::kNotSupported: return "NotSupported";
    case Code::kIo: return "IO";
  }
  return "Unknown";
}

std::string Status::toString() const {
  if (isOk()) return "OK";
  std::string s(codeName(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

Status errnoStatus(int err, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOENT: return {Code::kNotFound, std::move(msg)};
    case EACCES:
    case EPERM: return {Code::kPermissionDenied, std::move(msg)};
    case ENOTDIR: return {Code::kNotDirectory, std::move(msg)};
    case EISDIR: return {Code::kIsDirectory, std::move(msg)};
    case ENOSPC:
    case EDQUOT: return {Code::kNoSpace, std::move(msg)};
    default: return {Code::kIo, std::move(msg)};
  }
}

}  // namespace epochfs
