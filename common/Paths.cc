#include "common/Paths.h"

#include <filesystem>
#include <system_error>

namespace epochfs {

std::string resolvedPath(const std::string& path) {
  std::error_code ec;
  std::string out = std::filesystem::weakly_canonical(path, ec).string();
  if (ec || out.empty()) out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace epochfs
