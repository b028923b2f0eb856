// fs/FuseOps.h: the table of low-level FUSE callbacks; each forwards to FileSystem and replies.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

namespace epochfs::fs {

// The callbacks; the session's userdata must be a FuseContext* (FuseContext.h).
const fuse_lowlevel_ops& fuseOps();

}  // namespace epochfs::fs
