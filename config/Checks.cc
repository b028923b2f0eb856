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

Status attrTimeout(double seconds) {
  if (std::isfinite(seconds) && seconds >= 0) return Status::ok();
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return invalid(std::string(text) + " is not a number of seconds >= 0");
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

}  // namespace epochfs::config::checks
