#include "cli/ControlClient.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace epochfs::cli {
namespace {

// /proc/mounts escapes space, tab, newline and backslash as octal.
std::string unescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string absolutePath(const std::string& path) {
  std::error_code ec;
  std::string p = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool isEpochfsMount(const std::string& mountpoint) {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string dev, dir, type;
    fields >> dev >> dir >> type;
    if (type == "fuse.epochfs" && unescapeMountField(dir) == mountpoint) return true;
  }
  return false;
}

Result<nlohmann::json> readStats(const std::string& mountpoint) {
  std::string path = mountpoint + "/.epochfs/stats";
  std::ifstream in(path);
  if (!in) return errnoStatus(errno, "cannot read " + path + " (is it an epochfs mount?)");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid(path + " is not valid JSON");
  return j;
}

}  // namespace epochfs::cli
