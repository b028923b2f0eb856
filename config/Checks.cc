// config/Checks.cc: single-value checks, shared by the loader and validate().
#include "config/Checks.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "config/ConfigLoader.h"
#include "config/Options.h"

namespace epochfs::config::checks {
namespace {

template <typename List>
std::string joined(const List& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

template <typename List>
bool contains(const List& names, std::string_view name) {
  for (std::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

Status policyName(std::string_view name) {
  if (contains(kPolicyNames, name)) return Status::ok();
  return invalid("'" + std::string(name) + "' is not a policy (known: " + joined(kPolicyNames) +
                 ")");
}

Status logLevel(std::string_view level) {
  if (contains(kLogLevels, level)) return Status::ok();
  return invalid("'" + std::string(level) + "' is not a log level (use one of " +
                 joined(kLogLevels) + ")");
}

Status fuseThreads(int64_t threads) {
  if (threads >= 1 && threads <= kMaxFuseThreads) return Status::ok();
  return invalid(std::to_string(threads) + " is out of range (1.." +
                 std::to_string(kMaxFuseThreads) + ")");
}

Status prefetchThreads(int64_t threads) {
  if (threads >= 0 && threads <= kMaxPrefetchThreads) return Status::ok();
  return invalid(std::to_string(threads) + " is out of range (0.." +
                 std::to_string(kMaxPrefetchThreads) + ")");
}

Status attrTimeout(double seconds) {
  if (std::isfinite(seconds) && seconds >= 0) return Status::ok();
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return invalid(std::string(text) + " is not a number of seconds >= 0");
}

Status readAhead(uint64_t bytes) {
  if (bytes > kMaxReadAhead) {
    return invalid(formatSize(bytes) + " is out of range (0 .. " + formatSize(kMaxReadAhead) + ")");
  }
  if (bytes % (4 * kKiB) != 0) {
    return invalid(formatSize(bytes) + " (" + std::to_string(bytes) +
                   " bytes) is not a multiple of 4 KiB");
  }
  return Status::ok();
}

Status blockSize(uint64_t bytes) {
  if (bytes < kMinBlockSize || bytes > kMaxBlockSize) {
    return invalid(formatSize(bytes) + " is out of range (" + formatSize(kMinBlockSize) + " .. " +
                   formatSize(kMaxBlockSize) + ")");
  }
  if (bytes % kMinBlockSize != 0) {
    return invalid(formatSize(bytes) + " (" + std::to_string(bytes) +
                   " bytes) is not a multiple of " + formatSize(kMinBlockSize));
  }
  return Status::ok();
}

Status randomBlockSize(uint64_t bytes) {
  if (bytes < kMinBlockSize || bytes > kMaxBlockSize / 2 || (bytes & (bytes - 1)) != 0) {
    return invalid(formatSize(bytes) + " is not a power of two in " + formatSize(kMinBlockSize) +
                   " .. " + formatSize(kMaxBlockSize / 2));
  }
  return Status::ok();
}

Status path(std::string_view path) {
  if (!path.empty() && path.front() == '~') {
    return invalid("'" + std::string(path) + "': '~' is not expanded here; write the full path");
  }
  // Legal in a file name, but in a config it is a stray space or a broken quote (yaml-cpp 0.7
  // takes an unterminated "... at the end of a file as a string ending in a space).
  const auto isBlank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (!path.empty() && (isBlank(path.front()) || isBlank(path.back()))) {
    return invalid("'" + std::string(path) + "' starts or ends with whitespace");
  }
  return Status::ok();
}

Status s3Endpoint(std::string_view endpoint) {
  if (endpoint.empty()) return Status::ok();
  const std::string quoted = "'" + std::string(endpoint) + "'";
  std::string_view rest;
  if (endpoint.starts_with("http://")) {
    rest = endpoint.substr(7);
  } else if (endpoint.starts_with("https://")) {
    rest = endpoint.substr(8);
  } else {
    return invalid(quoted + " is not an endpoint URL (use http://HOST[:PORT] or "
                   "https://HOST[:PORT])");
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return invalid(quoted + " has no host");
  for (char c : rest) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    if (!ok) {
      return invalid(quoted + ": only scheme://HOST[:PORT] is accepted (no path, query or "
                     "user name)");
    }
  }
  return Status::ok();
}

Status s3Region(std::string_view region) {
  if (region.empty()) return invalid("the region must not be empty (e.g. us-east-1)");
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return invalid("'" + std::string(region) +
                     "' is not a region name (lower-case letters, digits and '-', e.g. "
                     "us-east-1)");
    }
  }
  return Status::ok();
}

Status s3Addressing(std::string_view addressing) {
  if (contains(kS3Addressings, addressing)) return Status::ok();
  return invalid("'" + std::string(addressing) + "' is not an addressing style (use one of " +
                 joined(kS3Addressings) + ")");
}

Status envName(std::string_view name) {
  bool ok = true;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!(letter || (i > 0 && c >= '0' && c <= '9'))) ok = false;
  }
  if (ok) return Status::ok();
  // The value is not quoted: whoever gets this wrong may have pasted the secret itself.
  return invalid("not an environment variable name (letters, digits and '_'; give the "
                 "variable's name, not its value)");
}

Status positiveSeconds(double seconds) {
  if (std::isfinite(seconds) && seconds > 0) return Status::ok();
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return invalid(std::string(text) + " is not a number of seconds > 0");
}

Status countInRange(int64_t value, int64_t max) {
  if (value >= 1 && value <= max) return Status::ok();
  return invalid(std::to_string(value) + " is out of range (1.." + std::to_string(max) + ")");
}

}  // namespace epochfs::config::checks
