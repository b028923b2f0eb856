#include "cache/IndexReset.h"

#include <cerrno>
#include <ctime>
#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

namespace epochfs::cache {
namespace {

constexpr std::string_view kPrefix = "index.corrupt-";

std::string utcStamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm {};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

bool isIndexDamage(const Status& st) {
  return st.code() == Code::kCorrupt;
}

Result<std::string> setAsideIndex(const std::string& cacheDir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // Older ones go first, making room for this one: so the newest is always kept, and its
  // name is free unless another reset happened within the same second.
  std::vector<std::string> aside;
  for (auto it = fs::directory_iterator(cacheDir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(kPrefix)) aside.push_back(it->path().string());
  }
  if (ec) return errnoStatus(ec.value(), "list cache dir " + cacheDir);
  std::sort(aside.begin(), aside.end());  // by time, roughly: UTC stamps of one width
  while (!aside.empty() && aside.size() >= kKeptDamagedIndexes) {
    fs::remove_all(aside.front(), ec);
    if (ec) return errnoStatus(ec.value(), "remove old damaged index " + aside.front());
    aside.erase(aside.begin());
  }

  const std::string from = cacheDir + "/index";
  const std::string stamp = cacheDir + "/" + std::string(kPrefix) + utcStamp();
  std::string to = stamp;
  for (int n = 1; fs::exists(to, ec); ++n) to = stamp + "-" + std::to_string(n);
  fs::rename(from, to, ec);
  if (ec) return errnoStatus(ec.value(), "rename damaged index " + from + " to " + to);
  return to;
}

}  // namespace epochfs::cache
