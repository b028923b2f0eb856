// config/Options.cc: defaultCacheDir().
//
// The default cache dir must be the same on every run for the same source, or a remount would
// start cold and leave the old cache behind. Hence FNV-1a rather than std::hash (whose values
// are unspecified and differ between standard libraries), and the hash is taken over the
// source bytes exactly as given: normalizing is validate()'s job, done once, before this.
#include <pwd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/Options.h"

namespace epochfs::config {
namespace {

constexpr size_t kMaxSlugLength = 48;

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 offset basis
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;  // FNV 64 prime
  }
  return h;
}

std::string hash8(std::string_view source) {
  const uint64_t h = fnv1a64(source);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>((h ^ (h >> 32)) & 0xffffffffU));
  return buf;
}

// The last non-empty '/'-separated component of the source ("s3://b/train/" -> "train"),
// reduced to characters that are safe and unsurprising in a directory name.
std::string slug(std::string_view source) {
  while (!source.empty() && source.back() == '/') source.remove_suffix(1);
  const size_t slash = source.rfind('/');
  std::string_view last = slash == std::string_view::npos ? source : source.substr(slash + 1);
  if (last.size() > kMaxSlugLength) last = last.substr(0, kMaxSlugLength);
  std::string out;
  for (char c : last) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out += safe ? c : '_';
  }
  // A leading '.' would hide the dir, and "." or ".." would not name one.
  if (out.empty() || out.find_first_not_of('.') == std::string::npos) return "origin";
  if (out.front() == '.') out.front() = '_';
  return out;
}

std::string_view envOrEmpty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string_view() : std::string_view(v);
}

}  // namespace

std::string defaultCacheDir(const std::string& source, bool asRoot, std::string_view xdgCacheHome,
                            std::string_view home) {
  const std::string leaf = "epochfs/" + slug(source) + "-" + hash8(source);
  if (asRoot) return "/var/cache/" + leaf;
  // The XDG base-dir spec says a relative $XDG_CACHE_HOME is invalid and must be ignored.
  if (!xdgCacheHome.empty() && xdgCacheHome.front() == '/') {
    std::string base(xdgCacheHome);
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    return base + "/" + leaf;
  }
  std::string base(home);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (base == "/") base.clear();
  return base + "/.cache/" + leaf;
}

std::string defaultCacheDir(const std::string& source) {
  const bool root = geteuid() == 0;
  std::string home(envOrEmpty("HOME"));
  if (!root && (home.empty() || home.front() != '/')) {
    // A service started without $HOME (a bare systemd unit, cron): ask passwd. getpwuid_r, as
    // getpwuid's static buffer is not thread-safe. Last resort /tmp, so we never return a
    // relative path.
    passwd pw{};
    passwd* found = nullptr;
    std::string buf(16384, '\0');
    if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
        pw.pw_dir != nullptr && pw.pw_dir[0] == '/') {
      home = pw.pw_dir;
    } else {
      home = "/tmp";
    }
  }
  return defaultCacheDir(source, root, envOrEmpty("XDG_CACHE_HOME"), home);
}

std::string_view passthroughName(FuseOptions::Passthrough p) {
  switch (p) {
    case FuseOptions::Passthrough::kAuto: return "auto";
    case FuseOptions::Passthrough::kOn: return "on";
    case FuseOptions::Passthrough::kOff: return "off";
  }
  return "auto";
}

Result<FuseOptions::Passthrough> parsePassthrough(std::string_view text) {
  using P = FuseOptions::Passthrough;
  for (P p : {P::kAuto, P::kOn, P::kOff}) {
    if (text == passthroughName(p)) return p;
  }
  return invalid("'" + std::string(text) + "' is not one of auto, on, off");
}

Result<bool> parsePassthroughVerify(std::string_view text) {
  if (text == "open") return false;
  if (text == "once") return true;
  return invalid("'" + std::string(text) + "' is not one of open, once");
}

}  // namespace epochfs::config
