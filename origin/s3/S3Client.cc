// origin/s3/S3Client.cc: URLs, signing per attempt, and which answers are worth a retry.
#include "origin/s3/S3Client.h"

#include <algorithm>
#include <cstdio>

#include "config/Options.h"

namespace epochfs::origin::s3 {
namespace {

bool isBadComponent(std::string_view part) {
  return part.empty() || part == "." || part == "..";
}

// Worth another attempt: the server or something on the way is overloaded or failing.
// 400 RequestTimeout is S3 closing an idle upload; harmless to retry for our bodiless calls.
bool retryableStatus(int status, const S3ErrorDoc& err) {
  if (status == 500 || status == 502 || status == 503 || status == 504) return true;
  if (status == 429 || status == 408) return true;
  if (status == 400 && (err.code == "RequestTimeout" || err.code == "SlowDown")) return true;
  return false;
}

std::string transportWord(TransportError e) {
  switch (e) {
    case TransportError::kResolve: return "host name does not resolve";
    case TransportError::kConnect: return "cannot connect";
    case TransportError::kTimeout: return "timed out";
    case TransportError::kReset: return "connection reset or closed";
    case TransportError::kTls: return "TLS failure";
    case TransportError::kOther:
    case TransportError::kNone: break;
  }
  return "transport error";
}

std::string seconds(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

Result<S3Location> parseS3Source(std::string_view source) {
  if (!source.starts_with("s3://")) return invalid("not an s3:// source: " + std::string(source));
  std::string_view rest = source.substr(5);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t slash = rest.find('/');
  S3Location loc;
  loc.bucket = std::string(rest.substr(0, slash));
  if (loc.bucket.empty()) {
    return invalid("'" + std::string(source) + "' names no bucket (use s3://BUCKET[/PREFIX])");
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    size_t begin = 0;
    while (true) {
      size_t end = prefix.find('/', begin);
      if (isBadComponent(prefix.substr(begin, end == std::string_view::npos ? end : end - begin))) {
        return invalid("'" + std::string(source) +
                       "': the prefix has an empty, '.' or '..' component");
      }
      if (end == std::string_view::npos) break;
      begin = end + 1;
    }
    loc.prefix = std::string(prefix);
  }
  return loc;
}

S3ClientOptions S3ClientOptions::from(const config::S3Options& o, std::string_view bucket) {
  S3ClientOptions c;
  c.endpoint = o.endpoint;
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  c.region = o.region;
  if (o.addressing == "path") {
    c.pathStyle = true;
  } else if (o.addressing == "virtual") {
    c.pathStyle = false;
  } else {
    c.pathStyle = !o.endpoint.empty() || bucket.find('.') != std::string_view::npos;
  }
  c.http.connectTimeout = std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(o.connectTimeoutSec * 1000)));
  c.http.lowSpeedTime = std::chrono::seconds(
      std::max<int64_t>(1, static_cast<int64_t>(o.lowSpeedTimeSec + 0.5)));
  c.http.lowSpeedLimit = o.lowSpeedLimitBytes;
  c.http.verifyTls = o.verifyTls;
  c.http.caBundle = o.caBundle;
  c.http.maxConnections = o.maxConnections;
  c.retry = RetryPolicy::from(o.retry);
  return c;
}

S3Client::S3Client(S3ClientOptions opts, std::string bucket, AccessKey key, RetryClock clock)
    : opts_(std::move(opts)),
      bucket_(std::move(bucket)),
      key_(std::move(key)),
      clock_(std::move(clock)),
      http_(opts_.http) {
  std::string endpoint =
      opts_.endpoint.empty() ? "https://s3." + opts_.region + ".amazonaws.com" : opts_.endpoint;
  size_t sep = endpoint.find("://");
  scheme_ = endpoint.substr(0, sep);
  std::string authority = endpoint.substr(sep + 3);
  // The Host header we sign must be the one curl sends: we send our own, without the default
  // port (which curl would leave out too).
  const std::string defaultPort = scheme_ == "https" ? ":443" : ":80";
  if (authority.ends_with(defaultPort)) authority.resize(authority.size() - defaultPort.size());
  endpointUrl_ = scheme_ + "://" + authority;
  host_ = opts_.pathStyle ? authority : bucket_ + "." + authority;
}

std::string S3Client::urlFor(std::string_view key, std::string_view query) const {
  std::string path = opts_.pathStyle ? "/" + bucket_ : "";
  if (!key.empty() || !opts_.pathStyle) path += "/" + std::string(key);
  std::string url = scheme_ + "://" + host_ + canonicalPath(path);
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

Result<S3Response> S3Client::send(const S3Request& req, const RetryPolicy* policy,
                                  S3Failure* failure) {
  const RetryPolicy& p = policy != nullptr ? *policy : opts_.retry;
  std::string path = opts_.pathStyle ? "/" + bucket_ : "";
  if (!req.key.empty() || !opts_.pathStyle) path += "/" + req.key;
  const std::string query = canonicalQuery(req.query);
  const std::string url = scheme_ + "://" + host_ + canonicalPath(path) +
                          (query.empty() ? "" : "?" + query);

  std::optional<S3Response> last;
  S3Failure cause;
  Status fatal;
  bool refused = false;  // the last attempt's answer was refused by req.verify
  RetryOutcome outcome = runWithRetries(
      p, clock_, [&](int attempt, std::chrono::steady_clock::time_point deadline) {
        if (attempt > 0) retries_.fetch_add(1, std::memory_order_relaxed);
        refused = false;
        SignInput in;
        in.method = req.method;
        in.path = path;
        in.query = req.query;
        in.headers = req.headers;
        in.headers.emplace_back("host", host_);
        in.payloadHash = req.body.empty() ? std::string(kEmptyPayloadSha256) : sha256Hex(req.body);
        HttpRequest h;
        h.method = req.method;
        h.url = url;
        h.headers = signedHeaders(std::move(in), key_, opts_.region, std::chrono::system_clock::now());
        h.body = req.body;
        h.out = req.out;
        h.skipIf200 = req.skipIf200;
        if (req.hardDeadline) {
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.now());
          h.timeout = std::max(left, std::chrono::milliseconds(500));
        }
        HttpResult r = http_.perform(h);
        if (!r.ok()) {
          cause = {r.error, transportWord(r.error) + ": " + r.errorMessage};
          last.reset();
          if (!r.retryable()) {
            // Not worth retrying, and not transient either: a TLS verification failure or a
            // malformed URL will fail the same way every time.
            fatal = Status(r.error == TransportError::kTls ? Code::kUnavailable : Code::kIo,
                           "S3 " + req.method + " " + url + ": " + cause.message);
          }
          return r.retryable();
        }
        S3Response resp;
        resp.status = r.response.status;
        if (resp.status >= 300) resp.error = parseError(r.response.body);
        resp.http = std::move(r.response);
        const bool retry = retryableStatus(resp.status, resp.error);
        if (!retry && resp.status / 100 == 2 && req.verify) {
          std::string why = req.verify(resp.http);
          if (!why.empty()) {
            refused = true;
            cause = {TransportError::kNone, std::move(why)};
            last = std::move(resp);
            return true;
          }
        }
        if (retry) {
          cause = {TransportError::kNone, "HTTP " + std::to_string(resp.status) +
                                              (resp.error.code.empty() ? "" : " " + resp.error.code) +
                                              (resp.error.message.empty() ? "" : ": " + resp.error.message)};
        }
        last = std::move(resp);
        return retry;
      });

  if (failure != nullptr) *failure = cause;
  if (!fatal.isOk()) return fatal;
  if (refused) {
    return Status(Code::kCorrupt, "S3 " + req.method + " " + url + ": " + cause.message +
                                      " (" + std::to_string(outcome.attempts) + " attempt" +
                                      (outcome.attempts == 1 ? "" : "s") + ")");
  }
  if (outcome.gaveUp || !last) {
    return unavailable("S3 " + req.method + " " + url + ": no answer after " +
                       std::to_string(outcome.attempts) + " attempt" +
                       (outcome.attempts == 1 ? "" : "s") + " in " + seconds(outcome.elapsed) +
                       " (endpoint " + endpointUrl_ + "); last error: " + cause.message);
  }
  return std::move(*last);
}

}  // namespace epochfs::origin::s3
