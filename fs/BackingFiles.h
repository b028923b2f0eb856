// fs/BackingFiles.h: the kernel's table of backing files of one FUSE connection (passthrough).
//
// A backing file is registered from an open fd and named by the id the kernel returns; an OPEN
// answered with that id has the kernel read the file itself (fs/Passthrough.h). FuseChannel
// implements it with the /dev/fuse ioctls; unit tests with a fake. Thread-safe.
#pragma once

#include "common/Status.h"

namespace epochfs::fs {

class BackingFiles {
 public:
  virtual ~BackingFiles() = default;
  // Registers the file open as `fd` (the caller may close `fd` afterwards); returns its id
  // (> 0). Errors carry the errno's code and say what failed; errno is left as the kernel set
  // it.
  virtual Result<int> open(int fd) = 0;
  // Drops id `id`; the kernel keeps the file for the opens that use it.
  virtual void close(int id) = 0;
};

}  // namespace epochfs::fs
