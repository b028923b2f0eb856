// common/Paths.h: comparing paths the way the kernel will walk them.
#pragma once

#include <string>

namespace epochfs {

// `path` with every symlink resolved (std::filesystem::weakly_canonical: a tail that does
// not exist yet stays as written), without a trailing '/'. If resolving fails (a dead FUSE
// mount answers ENOTCONN), the lexically normal path, so that a dead mountpoint still
// compares, and locks, as it did when it was mounted.
std::string resolvedPath(const std::string& path);

}  // namespace epochfs
