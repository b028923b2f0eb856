// fs/FuseContext.h: the userdata of epochfs's FUSE session: what the callbacks (FuseOps.cc)
// and the channel hooks (FuseChannel.cc) reach through it.
#pragma once

namespace epochfs::fs {

class FileSystem;
class FuseChannel;

struct FuseContext {
  FileSystem* fs = nullptr;
  FuseChannel* channel = nullptr;
};

}  // namespace epochfs::fs
