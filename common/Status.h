// common/Status.h: the error currency of everything below fs/.
//
// Every fallible call below the FUSE callbacks returns a Status or a Result<T>. Codes are a
// short project enum, never errno, HTTP status or a library's own error type: those stop at
// the file that wraps the library. fs/Errno.cc is the only place a Status becomes an errno.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace epochfs {

enum class Code {
  kOk,
  kNotFound,
  kPermissionDenied,
  kStale,        // the object changed at the origin since its etag was taken
  kUnavailable,  // origin unreachable or failing; retryable
  kCorrupt,      // bytes failed their checksum (on the cache device, or from the origin)
  kNoSpace,
  kCancelled,
  kInvalid,      // bad input: config, arguments, plan lines
  kReadOnly,
  kNotDirectory,
  kIsDirectory,
  kBusy,         // a resource (such as a cache dir) is held by someone else
  kNotSupported, // an operation the object does not have (an unknown control ioctl)
  kIo,           // any other local I/O failure
};

std::string_view codeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool isOk() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: <message>"; "OK" when ok.
  std::string toString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status notFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
inline Status ioError(std::string m) { return {Code::kIo, std::move(m)}; }
inline Status stale(std::string m) { return {Code::kStale, std::move(m)}; }
inline Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
// A Status from errno after a failed syscall: ENOENT -> kNotFound, EACCES/EPERM ->
// kPermissionDenied, ENOTDIR -> kNotDirectory, EISDIR -> kIsDirectory, ENOSPC -> kNoSpace,
// anything else kIo. The message is "<what>: <strerror>".
Status errnoStatus(int err, std::string_view what);

// A value or the Status that says why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.isOk() && "a Result holding no value needs an error Status");
  }

  bool isOk() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { assert(isOk()); return *value_; }
  const T& value() const& { assert(isOk()); return *value_; }
  T&& value() && { assert(isOk()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace epochfs

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define EPOCHFS_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::epochfs::Status _st = (expr);            \
    if (!_st.isOk()) return _st;               \
  } while (0)
