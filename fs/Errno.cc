#include "fs/Errno.h"

#include <cerrno>

namespace epochfs::fs {

int toErrno(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kPermissionDenied: return EACCES;
    case Code::kStale: return ESTALE;
    case Code::kReadOnly: return EROFS;
    case Code::kInvalid: return EINVAL;
    case Code::kNotDirectory: return ENOTDIR;
    case Code::kIsDirectory: return EISDIR;
    case Code::kNoSpace: return ENOSPC;
    case Code::kBusy: return EBUSY;
    case Code::kNotSupported: return ENOTTY;
    case Code::kCancelled: return EINTR;
    // Origin down after retries, unrepairable corruption, local I/O failure.
    case Code::kUnavailable:
    case Code::kCorrupt:
    case Code::kIo: return EIO;
  }
  return EIO;
}

}  // namespace epochfs::fs
