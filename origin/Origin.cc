// origin/Origin.cc: key helpers, the counting wrapper and the factory.
#include "origin/Origin.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "config/Options.h"
#include "origin/posix/PosixOrigin.h"
#include "origin/s3/S3Origin.h"

namespace epochfs::origin {

void scrubOriginSecrets(const config::OriginOptions& opts) {
  if (opts.source.starts_with("s3://")) s3::scrubSecretEnv(opts.s3.credentials);
}

std::string joinKey(std::string_view dir, std::string_view name) {
  std::string key;
  key.reserve(dir.size() + 1 + name.size());
  key.append(dir);
  if (!dir.empty()) key.push_back('/');
  key.append(name);
  return key;
}

std::pair<std::string_view, std::string_view> splitKey(std::string_view key) {
  size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Status checkKey(std::string_view key) {
  if (key.empty()) return Status::ok();  // the root
  if (key.find('\0') != std::string_view::npos) {
    // A NUL would silently truncate the path handed to the kernel: "a\0/../../x" is "a".
    return invalid("origin key contains a NUL byte");
  }
  size_t begin = 0;
  while (true) {
    size_t end = key.find('/', begin);
    std::string_view part = key.substr(begin, end == std::string_view::npos ? end : end - begin);
    if (part.empty() || part == "." || part == "..") {
      return invalid("malformed origin key (empty, '.' or '..' component, or a leading or "
                     "trailing '/'): \"" + std::string(key) + "\"");
    }
    if (end == std::string_view::npos) return Status::ok();
    begin = end + 1;
  }
}

Result<std::vector<TreeEntry>> Origin::listRecursive(std::string_view key) {
  // Depth-first over list(); the result is sorted at the end, as list()'s bytewise name order
  // is not the key order ("a/b" vs "a+": '/' sorts after '+').
  Result<std::vector<DirEntry>> top = list(key);
  if (!top.isOk()) return top.status();
  std::vector<TreeEntry> out;
  std::vector<std::pair<std::string, std::vector<DirEntry>>> stack;
  stack.emplace_back(std::string(key), std::move(*top));
  while (!stack.empty()) {
    auto [dir, entries] = std::move(stack.back());
    stack.pop_back();
    for (DirEntry& e : entries) {
      std::string child = joinKey(dir, e.name);
      if (e.info.type == EntryType::kDirectory) {
        Result<std::vector<DirEntry>> sub = list(child);
        if (sub.isOk()) {
          stack.emplace_back(child, std::move(*sub));
        } else if (sub.status().code() != Code::kNotFound &&
                   sub.status().code() != Code::kNotDirectory) {
          return sub.status();
        } else {
          continue;  // replaced or removed since its parent was listed
        }
      }
      out.push_back(TreeEntry{std::move(child), std::move(e.info)});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.key < b.key; });
  return out;
}

// Every call counts, errors included: the counters answer "how hard are we hitting the
// origin", and a failed request costs a round trip too.
Result<ObjectInfo> InstrumentedOrigin::stat(std::string_view key) {
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  counters_.statRequests.fetch_add(1, std::memory_order_relaxed);
  Result<ObjectInfo> r = inner_->stat(key);
  // Looking up absent names is normal (the kernel probes for ._ files, .pyc, ...): not an
  // error of the origin.
  if (!r.isOk() && r.status().code() != Code::kNotFound) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
  }
  return r;
}

Result<std::vector<DirEntry>> InstrumentedOrigin::list(std::string_view key) {
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  counters_.listRequests.fetch_add(1, std::memory_order_relaxed);
  Result<std::vector<DirEntry>> r = inner_->list(key);
  if (!r.isOk()) counters_.errors.fetch_add(1, std::memory_order_relaxed);
  return r;
}

Result<std::vector<TreeEntry>> InstrumentedOrigin::listRecursive(std::string_view key) {
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  counters_.listRequests.fetch_add(1, std::memory_order_relaxed);
  Result<std::vector<TreeEntry>> r = inner_->listRecursive(key);
  if (!r.isOk()) counters_.errors.fetch_add(1, std::memory_order_relaxed);
  return r;
}

Result<size_t> InstrumentedOrigin::read(std::string_view key, std::string_view etag,
                                        uint64_t offset, std::span<std::byte> out) {
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  counters_.readRequests.fetch_add(1, std::memory_order_relaxed);
  Result<size_t> r = inner_->read(key, etag, offset, out);
  if (r.isOk()) {
    counters_.bytes.fetch_add(*r, std::memory_order_relaxed);
  } else {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
  }
  return r;
}

namespace {

// "/data/x/" -> "/data/x"; "data" -> "<cwd>/data". Lexical only: symlinks in the root path
// stay unresolved, so repointing a "current" link and remounting picks up the new target.
Result<std::string> absoluteRoot(const std::string& source) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(source, ec);
  if (ec) return errnoStatus(ec.value(), "origin directory " + source);
  std::string root = p.lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

// "gs://b", "http://h/x": a URL rather than a path (a path may contain "://" elsewhere).
bool hasScheme(std::string_view source) {
  size_t sep = source.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  for (char c : source.substr(0, sep)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Origin>> makeOrigin(const config::OriginOptions& opts) {
  const std::string& source = opts.source;
  if (source.empty()) return invalid("origin source is empty: give a directory");
  if (source.starts_with("s3://")) return s3::makeS3Origin(opts);
  if (hasScheme(source)) {
    return invalid("unsupported origin scheme: " + source +
                   " (give a local directory or s3://BUCKET[/PREFIX])");
  }
  Result<std::string> root = absoluteRoot(source);
  if (!root.isOk()) return root.status();
  struct stat st;
  if (::stat(root->c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return notFound("origin directory does not exist: " + source);
    }
    return errnoStatus(err, "origin directory " + source);
  }
  if (!S_ISDIR(st.st_mode)) return invalid("origin source is not a directory: " + source);
  // Directory permissions are checked here rather than at the first lookup, so a mount with
  // an unreadable origin fails at once with a clear message.
  if (::access(root->c_str(), R_OK | X_OK) != 0) {
    return errnoStatus(errno, "origin directory " + source);
  }
  return std::unique_ptr<Origin>(std::make_unique<PosixOrigin>(std::move(*root)));
}

}  // namespace epochfs::origin
