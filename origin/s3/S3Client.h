// origin/s3/S3Client.h: signed S3 requests with retries, for one bucket.
//
// S3Origin says what to ask (HEAD this key, GET that range, list this prefix); S3Client turns
// it into a URL for the configured endpoint and addressing style, signs every attempt
// (SigV4.h), sends it (HttpClient.h) and retries what is worth retrying (Retry.h): transport
// failures (refused, reset, timed out, DNS), HTTP 500/502/503/504 (503 SlowDown included),
// 429 and 408. Everything else, 403/404/412/416 among them, is an answer and goes back to the
// caller at once. After the budget the result is kUnavailable, naming the method, the URL,
// the attempts and the last cause, never a secret.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/Status.h"
#include "origin/s3/HttpClient.h"
#include "origin/s3/Retry.h"
#include "origin/s3/S3Xml.h"
#include "origin/s3/SigV4.h"

namespace epochfs::config {
struct S3Options;
}

namespace epochfs::origin::s3 {

// "s3://BUCKET[/PREFIX]" -> bucket and prefix (no leading or trailing '/'). kInvalid without
// a bucket, or with an empty, "." or ".." component in the prefix.
struct S3Location {
  std::string bucket;
  std::string prefix;
};
Result<S3Location> parseS3Source(std::string_view source);

struct S3ClientOptions {
  std::string endpoint;  // "http[s]://host[:port]"; "" = AWS for `region`
  std::string region = "us-east-1";
  bool pathStyle = true;
  HttpOptions http;
  RetryPolicy retry;

  // From the config: "auto" addressing is path-style with an endpoint or a bucket name with a
  // dot (a dot breaks the TLS wildcard of virtual hosts), virtual-hosted for AWS otherwise.
  static S3ClientOptions from(const config::S3Options& opts, std::string_view bucket);
};

struct S3Request {
  std::string method = "GET";
  std::string key;  // object key (not encoded); "" for the bucket itself
  std::vector<std::pair<std::string, std::string>> query;    // not encoded
  std::vector<std::pair<std::string, std::string>> headers;  // signed: range, if-match, ...
  std::string_view body;
  std::optional<std::span<std::byte>> out;  // see HttpRequest::out
  uint64_t skipIf200 = 0;                   // see HttpRequest::skipIf200
  // Bound each attempt by the retry deadline too (the mount-time probe), not only the budget
  // for starting retries.
  bool hardDeadline = false;
  // Called on every 2xx answer before it is taken: "" takes it; anything else (why, e.g. the
  // body does not match the object's checksum) makes that attempt a failure worth retrying.
  // When the attempts or the budget run out on such failures, send() returns kCorrupt.
  std::function<std::string(const HttpResponse&)> verify;
};

struct S3Response {
  int status = 0;
  HttpResponse http;
  S3ErrorDoc error;  // parsed for status >= 300
};

// A failed request's last cause: what the probe turns into a message for people.
struct S3Failure {
  TransportError transport = TransportError::kNone;
  std::string message;  // curl's message, or "HTTP 503 SlowDown: Please reduce ..."
};

class S3Client {
 public:
  S3Client(S3ClientOptions opts, std::string bucket, AccessKey key,
           RetryClock clock = RetryClock::real());

  // Sends `req` with retries under `policy` (default: the client's). Returns the last response
  // whatever its status, or kUnavailable when the budget ran out on retryable failures (and
  // then, if `failure` is given, the last cause), kCorrupt when it ran out on answers that
  // req.verify refused, or kInvalid/kIo for failures not worth retrying (TLS verification, a
  // malformed URL).
  Result<S3Response> send(const S3Request& req, const RetryPolicy* policy = nullptr,
                          S3Failure* failure = nullptr);

  // "http://127.0.0.1:7480" or "https://s3.us-east-1.amazonaws.com": for messages.
  const std::string& endpoint() const { return endpointUrl_; }
  const std::string& bucket() const { return bucket_; }
  const std::string& region() const { return opts_.region; }
  const std::string& accessKeyId() const { return key_.id; }
  // The URL of an object (encoded), as sent.
  std::string urlFor(std::string_view key, std::string_view query = "") const;

  uint64_t retries() const { return retries_.load(); }
  const HttpClient& http() const { return http_; }

 private:
  S3ClientOptions opts_;
  std::string bucket_;
  AccessKey key_;
  RetryClock clock_;
  HttpClient http_;
  std::string scheme_;       // "http" or "https"
  std::string host_;         // Host header: "127.0.0.1:7480", "b.s3.us-east-1.amazonaws.com"
  std::string endpointUrl_;  // scheme://endpoint host, without the bucket
  std::atomic<uint64_t> retries_{0};
};

}  // namespace epochfs::origin::s3
