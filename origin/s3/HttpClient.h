// origin/s3/HttpClient.h: one HTTP attempt over libcurl, with pooled connections.
//
// S3Client builds and signs a request, and calls perform() once per attempt; the retry policy
// lives in S3Client, which alone knows what an S3 answer means. Here: a pool of CURL easy
// handles (each keeps its connection open between requests, so consecutive requests reuse
// it), at most `maxConnections` requests in flight (more callers wait for a free handle),
// connect and low-speed timeouts, TLS verification on unless turned off, a custom CA bundle.
// libcurl's CURLcode stops in HttpClient.cc: callers see a TransportError kind and a message.
//
// Thread-safe: any number of threads may call perform() at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace epochfs::origin::s3 {

struct HttpOptions {
  std::chrono::milliseconds connectTimeout{5000};
  // Abort when slower than lowSpeedLimit bytes/s for lowSpeedTime.
  std::chrono::seconds lowSpeedTime{15};
  uint64_t lowSpeedLimit = 1024;
  bool verifyTls = true;
  std::string caBundle;  // "" = the system's CA store
  int maxConnections = 32;
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, DELETE, POST
  std::string url;             // already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // sent as is (PUT, POST)
  // When set, a 2xx response body is written here (a ranged GET); bytes beyond out.size()
  // end the transfer early. Error bodies (non-2xx) always go to HttpResponse::body.
  std::optional<std::span<std::byte>> out;
  // Bytes to drop from the front of a 200 body (a server that ignored the Range header sends
  // the whole object; a 206 body starts at the range already).
  uint64_t skipIf200 = 0;
  // Whole-transfer limit; 0 = none (the low-speed limit still catches a stall).
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;      // at most 4 MiB kept
  size_t outBytes = 0;   // bytes written to HttpRequest::out
  bool outFull = false;  // the transfer was cut because `out` was full

  // The last header of that (lower-case) name.
  std::optional<std::string> header(std::string_view name) const;
};

enum class TransportError {
  kNone,
  kResolve,  // DNS: the host name does not resolve
  kConnect,  // connection refused or unreachable
  kTimeout,  // connect timeout, low-speed timeout, whole-transfer timeout
  kReset,    // connection reset, closed early, nothing received, truncated body
  kTls,      // handshake or certificate verification failed
  kOther,    // malformed URL, out of memory, ...
};

struct HttpResult {
  TransportError error = TransportError::kNone;
  std::string errorMessage;  // "Failed to connect to 127.0.0.1 port 1 ...: Couldn't connect"
  HttpResponse response;     // valid when error == kNone

  bool ok() const { return error == TransportError::kNone; }
  // Worth another attempt: everything but kTls and kOther.
  bool retryable() const;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions opts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One attempt; blocks while all connections are busy. Never throws.
  HttpResult perform(const HttpRequest& req);

  // Connections opened so far (the rest of the requests reused one).
  uint64_t connectionsOpened() const { return connectionsOpened_.load(); }
  const HttpOptions& options() const { return opts_; }

 private:
  struct Share;
  void* acquire();
  void release(void* handle);

  HttpOptions opts_;
  std::unique_ptr<Share> share_;
  std::mutex mu_;  // guards idle_, handles_
  std::condition_variable freed_;
  std::vector<void*> idle_;  // CURL*, each used by one thread at a time
  int handles_ = 0;          // idle + in use
  std::atomic<uint64_t> connectionsOpened_{0};
};

}  // namespace epochfs::origin::s3
