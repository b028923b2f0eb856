// origin/s3/S3Origin.cc: S3 answers -> Origin semantics, and the mount-time probe. HTTP
// status codes stop here (and in S3Client.cc).
#include "origin/s3/S3Origin.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include <spdlog/spdlog.h>

#include "config/Options.h"
#include "origin/s3/Integrity.h"

namespace epochfs::origin::s3 {
namespace {

constexpr int kPageSize = 1000;
// No object is this large (S3's limit is 5 TiB); a read starting beyond it reads nothing and
// sends nothing, which also keeps "bytes=a-b" far from overflowing.
constexpr uint64_t kMaxOffset = uint64_t{1} << 62;

bool isValidName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('\0') == std::string_view::npos;
}

ObjectInfo directoryInfo() {
  ObjectInfo info;
  info.type = EntryType::kDirectory;
  return info;
}

ObjectInfo fileInfo(const ListedObject& o) {
  ObjectInfo info;
  info.type = EntryType::kFile;
  info.size = o.size;
  info.etag = o.etag;
  info.mtimeNs = o.mtimeNs;
  return info;
}

// "bytes 0-9/443" -> (start, total); nullopt when malformed. total is nullopt for "*".
struct ContentRange {
  uint64_t start = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> parseContentRange(std::string_view v) {
  if (!v.starts_with("bytes ")) return std::nullopt;
  v.remove_prefix(6);
  ContentRange cr;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), cr.start);
  if (ec != std::errc()) return std::nullopt;
  size_t slash = v.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view total = v.substr(slash + 1);
  uint64_t t = 0;
  auto [q, ec2] = std::from_chars(total.data(), total.data() + total.size(), t);
  if (ec2 == std::errc()) cr.total = t;
  return cr;
}

}  // namespace

S3Origin::S3Origin(std::unique_ptr<S3Client> client, std::string prefix, bool verify)
    : client_(std::move(client)), prefix_(std::move(prefix)), verify_(verify) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  while (!prefix_.empty() && prefix_.front() == '/') prefix_.erase(prefix_.begin());
}

unsigned S3Origin::maxConcurrency() const {
  return static_cast<unsigned>(std::max(1, client_->http().options().maxConnections));
}

IntegrityStats S3Origin::integrity() const {
  IntegrityStats s;
  s.mode = verify_ ? "s3" : "off";
  s.verifiedReads = verifiedReads_.load();
  s.verifiedBytes = verifiedBytes_.load();
  s.unverifiedReads = unverifiedReads_.load();
  s.unverifiedBytes = unverifiedBytes_.load();
  s.mismatches = mismatches_.load();
  s.failedReads = failedReads_.load();
  return s;
}

std::string S3Origin::describe() const {
  return "s3://" + client_->bucket() + (prefix_.empty() ? "" : "/" + prefix_) + " (" +
         client_->endpoint() + ", region " + client_->region() + ")";
}

std::string S3Origin::objectKey(std::string_view key) const {
  if (prefix_.empty()) return std::string(key);
  if (key.empty()) return prefix_;
  return prefix_ + "/" + std::string(key);
}

std::string S3Origin::dirPrefix(std::string_view key) const {
  if (key.empty()) return prefix_.empty() ? "" : prefix_ + "/";
  return objectKey(key) + "/";
}

std::string S3Origin::where(std::string_view key) const {
  return "s3://" + client_->bucket() + "/" + objectKey(key);
}

Status S3Origin::errorFor(const S3Response& r, std::string_view op,
                          std::string_view key) const {
  std::string detail = "HTTP " + std::to_string(r.status);
  if (!r.error.code.empty()) detail += " " + r.error.code;
  if (!r.error.message.empty()) detail += ": " + r.error.message;
  const std::string what = std::string(op) + " " + where(key) + ": " + detail;
  switch (r.status) {
    case 403: return Status(Code::kPermissionDenied, what);
    case 404: return notFound(what);
    case 412: return stale(what);
    default: return ioError(what);
  }
}

Result<bool> S3Origin::isDirectory(std::string_view key) {
  S3Request req;
  req.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", dirPrefix(key)}};
  Result<S3Response> r = client_->send(req);
  if (!r.isOk()) return r.status();
  if (r->status != 200) return errorFor(*r, "list", key);
  Result<ListPage> page = parseListObjectsV2(r->http.body);
  if (!page.isOk()) return ioError("list " + where(key) + ": " + page.status().message());
  return !page->objects.empty() || !page->prefixes.empty();
}

Result<ObjectInfo> S3Origin::head(std::string_view key) {
  S3Request req;
  req.method = "HEAD";
  req.key = objectKey(key);
  Result<S3Response> r = client_->send(req);
  if (!r.isOk()) return r.status();
  if (r->status != 200) return errorFor(*r, "stat", key);
  ObjectInfo info;
  info.type = EntryType::kFile;
  std::optional<std::string> length = r->http.header("content-length");
  std::optional<std::string> etag = r->http.header("etag");
  if (!length || !etag) return ioError("stat " + where(key) + ": HEAD without Content-Length or ETag");
  auto [p, ec] = std::from_chars(length->data(), length->data() + length->size(), info.size);
  if (ec != std::errc()) return ioError("stat " + where(key) + ": bad Content-Length");
  info.etag = *etag;
  if (std::optional<std::string> lm = r->http.header("last-modified")) {
    info.mtimeNs = parseHttpDate(*lm).value_or(0);
  }
  return info;
}

Result<ObjectInfo> S3Origin::stat(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  if (key.empty()) return directoryInfo();
  // Directory first: if "key/" has anything below it, the directory wins over an object "key".
  Result<bool> dir = isDirectory(key);
  if (!dir.isOk()) return dir.status();
  if (*dir) return directoryInfo();
  return head(key);
}

Status S3Origin::listPages(std::string_view key, const std::string& prefix, bool delimited,
                           const std::function<void(const ListPage&)>& onPage) {
  std::string token;
  do {
    S3Request req;
    req.query = {{"list-type", "2"}};
    if (delimited) req.query.emplace_back("delimiter", "/");
    req.query.emplace_back("prefix", prefix);
    req.query.emplace_back("max-keys", std::to_string(kPageSize));
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    Result<S3Response> r = client_->send(req);
    if (!r.isOk()) return r.status();
    if (r->status != 200) return errorFor(*r, "list", key);
    Result<ListPage> page = parseListObjectsV2(r->http.body);
    if (!page.isOk()) return ioError("list " + where(key) + ": " + page.status().message());
    onPage(*page);
    token = page->truncated ? page->nextToken : "";
  } while (!token.empty());
  return Status::ok();
}

Result<std::vector<DirEntry>> S3Origin::list(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  const std::string prefix = dirPrefix(key);
  std::map<std::string, ObjectInfo> entries;  // name -> info; a directory replaces a file
  bool anything = false;
  EPOCHFS_RETURN_IF_ERROR(listPages(key, prefix, /*delimited=*/true, [&](const ListPage& page) {
    for (const ListedObject& o : page.objects) {
      anything = true;
      if (!o.key.starts_with(prefix)) continue;
      std::string name = o.key.substr(prefix.size());
      if (!isValidName(name) || name.back() == '/') continue;  // our own marker, "key//"
      entries.emplace(std::move(name), fileInfo(o));
    }
    for (const std::string& p : page.prefixes) {
      anything = true;
      if (!p.starts_with(prefix) || p.size() < prefix.size() + 1) continue;
      std::string name = p.substr(prefix.size(), p.size() - prefix.size() - 1);
      if (!isValidName(name)) continue;
      entries[std::move(name)] = directoryInfo();
    }
  }));

  if (!anything && !key.empty()) return nothingBelow(key);
  std::vector<DirEntry> out;
  out.reserve(entries.size());
  for (auto& [name, info] : entries) out.push_back(DirEntry{name, std::move(info)});
  return out;  // std::map orders names bytewise
}

Status S3Origin::nothingBelow(std::string_view key) {
  // No key continues below `key`: it is a file, or nothing at all.
  Result<ObjectInfo> obj = head(key);
  if (obj.isOk()) return Status(Code::kNotDirectory, "not a directory: " + where(key));
  if (obj.status().code() == Code::kNotFound) return notFound("no such directory: " + where(key));
  return obj.status();
}

Result<std::vector<TreeEntry>> S3Origin::listRecursive(std::string_view key) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  const std::string prefix = dirPrefix(key);
  const std::string base = key.empty() ? "" : std::string(key) + "/";  // origin-key prefix
  std::map<std::string, ObjectInfo> tree;  // origin key -> info; directories replace files
  bool anything = false;
  // Marks every valid directory on the way to `rel` (a path below `key`), stopping at the
  // first invalid component; returns whether all of rel's components were valid.
  auto addParents = [&](std::string_view rel) {
    size_t begin = 0;
    while (true) {
      size_t end = rel.find('/', begin);
      std::string_view part = rel.substr(begin, end == std::string_view::npos ? end : end - begin);
      if (!isValidName(part)) return false;
      if (end == std::string_view::npos) return true;
      tree[base + std::string(rel.substr(0, end))] = directoryInfo();
      begin = end + 1;
    }
  };
  EPOCHFS_RETURN_IF_ERROR(listPages(key, prefix, /*delimited=*/false, [&](const ListPage& page) {
    for (const ListedObject& o : page.objects) {
      anything = true;
      if (!o.key.starts_with(prefix)) continue;
      std::string_view rel = std::string_view(o.key).substr(prefix.size());
      if (rel.empty()) continue;  // the marker of `key` itself
      if (rel.back() == '/') {    // a directory marker
        rel.remove_suffix(1);
        if (addParents(rel)) tree[base + std::string(rel)] = directoryInfo();
        continue;
      }
      if (addParents(rel)) tree.emplace(base + std::string(rel), fileInfo(o));
    }
  }));

  if (!anything && !key.empty()) return nothingBelow(key);
  std::vector<TreeEntry> out;
  out.reserve(tree.size());
  for (auto& [k, info] : tree) out.push_back(TreeEntry{k, std::move(info)});
  return out;
}

Result<size_t> S3Origin::read(std::string_view key, std::string_view etag, uint64_t offset,
                              std::span<std::byte> out) {
  EPOCHFS_RETURN_IF_ERROR(checkKey(key));
  if (key.empty()) return Status(Code::kIsDirectory, "is a directory: " + where(key));
  if (out.empty() || offset >= kMaxOffset) return size_t{0};

  S3Request req;
  req.key = objectKey(key);
  const uint64_t last = offset + out.size() - 1;
  req.headers.emplace_back("range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last));
  if (!etag.empty()) req.headers.emplace_back("if-match", std::string(etag));
  req.out = out;
  req.skipIf200 = offset;
  bool verified = false;
  if (verify_) {
    req.headers.emplace_back("x-amz-checksum-mode", "ENABLED");
    req.verify = [&](const HttpResponse& h) {
      return verifyBody(h, key, etag, offset, out, verified);
    };
  }
  Result<S3Response> r = client_->send(req);
  if (!r.isOk()) {
    if (r.status().code() == Code::kCorrupt) {
      failedReads_++;
      return corrupt("read " + where(key) + ": every answer failed its integrity check; " +
                     r.status().message());
    }
    return r.status();
  }
  if (r->status == 200 || r->status == 206) {
    std::atomic<uint64_t>& reads = verified ? verifiedReads_ : unverifiedReads_;
    std::atomic<uint64_t>& bytes = verified ? verifiedBytes_ : unverifiedBytes_;
    reads++;
    bytes += r->http.outBytes;
  }

  switch (r->status) {
    case 200:
    case 206: {
      // A server that ignores If-Match (some do) must not slip another version past us.
      std::optional<std::string> got = r->http.header("etag");
      if (got && *got != etag) {
        return stale("object changed at the origin: " + where(key) + " (etag " +
                     std::string(etag) + ", now " + *got + ")");
      }
      if (r->status == 206) {
        std::optional<std::string> cr = r->http.header("content-range");
        std::optional<ContentRange> range = cr ? parseContentRange(*cr) : std::nullopt;
        if (!range || range->start != offset) {
          return ioError("read " + where(key) + ": unexpected Content-Range " + cr.value_or("(none)"));
        }
        if (range->total && r->http.outBytes < out.size() &&
            offset + r->http.outBytes < *range->total) {
          return ioError("read " + where(key) + ": short body before the end of the object");
        }
      }
      return r->http.outBytes;
    }
    case 416:
      return size_t{0};  // at or past the end (the etag matched: If-Match is checked first)
    case 404: {
      if (r->error.code == "NoSuchBucket") return errorFor(*r, "read", key);
      Result<bool> dir = isDirectory(key);
      if (dir.isOk() && *dir) return Status(Code::kIsDirectory, "is a directory: " + where(key));
      return errorFor(*r, "read", key);
    }
    case 412:
      return stale("object changed at the origin: " + where(key) + " (etag " + std::string(etag) +
                   " no longer matches)");
    default:
      return errorFor(*r, "read", key);
  }
}

std::string S3Origin::verifyBody(const HttpResponse& h, std::string_view key,
                                 std::string_view etag, uint64_t offset,
                                 std::span<const std::byte> out, bool& verified) {
  verified = false;
  // Only a body that is the whole object can be checked against the object's digest.
  if (offset != 0) return "";
  std::optional<uint64_t> total;
  if (h.status == 206) {
    std::optional<std::string> cr = h.header("content-range");
    std::optional<ContentRange> range = cr ? parseContentRange(*cr) : std::nullopt;
    if (!range || range->start != 0) return "";  // read() reports a bad Content-Range
    total = range->total;
  } else if (h.status == 200 && !h.outFull) {
    total = h.outBytes;
  }
  if (!total || *total != h.outBytes) return "";
  const std::string sent = h.header("etag").value_or(std::string(etag));
  std::optional<ExpectedDigest> want = expectedDigest(h, sent);
  if (!want) return "";
  std::string why = checkDigest(*want, out.first(h.outBytes));
  if (!why.empty()) {
    mismatches_++;
    spdlog::warn("integrity: {}: {}; retrying", where(key), why);
    return "integrity check failed: " + why;
  }
  verified = true;
  return "";
}

Status S3Origin::probe(std::string_view credentialSource) {
  // Fewer, quicker tries than for data: a person is waiting for the mount command.
  RetryPolicy policy = RetryPolicy{};
  policy.maxAttempts = 3;
  policy.baseDelay = std::chrono::milliseconds(200);
  policy.maxDelay = std::chrono::seconds(1);
  policy.budget = std::chrono::seconds(5);

  S3Request req;
  req.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", dirPrefix("")}};
  req.hardDeadline = true;
  S3Failure failure;
  Result<S3Response> r = client_->send(req, &policy, &failure);
  const std::string endpoint = client_->endpoint();
  const std::string bucket = client_->bucket();
  const std::string keyId = "access key id '" + client_->accessKeyId() + "'" +
                            (credentialSource.empty() ? "" : " (from " + std::string(credentialSource) + ")");
  if (!r.isOk()) {
    std::string cause = failure.message.empty() ? r.status().message() : failure.message;
    if (failure.transport == TransportError::kNone) {
      return unavailable("S3 endpoint " + endpoint + " keeps failing: " + cause);
    }
    std::string hint;
    if (failure.transport == TransportError::kTls) {
      hint = " (check s3.ca_bundle, or set s3.verify_tls: false for a test server)";
    }
    return unavailable("cannot reach S3 endpoint " + endpoint + ": " + cause + hint);
  }
  const S3ErrorDoc& e = r->error;
  switch (r->status) {
    case 200: return Status::ok();
    case 403:
      if (e.code == "InvalidAccessKeyId") {
        return Status(Code::kPermissionDenied, "S3 at " + endpoint + " does not know the " +
                                                   keyId + " (InvalidAccessKeyId)");
      }
      if (e.code == "SignatureDoesNotMatch") {
        return Status(Code::kPermissionDenied,
                      "S3 at " + endpoint + " rejected the signature for " + keyId +
                          ": the secret access key is wrong (SignatureDoesNotMatch)");
      }
      if (e.code == "RequestTimeTooSkewed") {
        return Status(Code::kPermissionDenied,
                      "S3 at " + endpoint + " refused the request: this machine's clock is "
                      "off by more than 15 minutes (RequestTimeTooSkewed)");
      }
      return Status(Code::kPermissionDenied,
                    "S3 at " + endpoint + " denied " + keyId + " access to bucket '" + bucket +
                        "' (" + (e.code.empty() ? "HTTP 403" : e.code) + ")");
    case 404:
      if (e.code == "NoSuchBucket" || e.code.empty()) {
        return notFound("bucket '" + bucket + "' does not exist at " + endpoint +
                        (e.code.empty() ? "" : " (NoSuchBucket)"));
      }
      break;
    case 301:
    case 307:
      return invalid("bucket '" + bucket + "' is not served by " + endpoint +
                     (e.endpoint.empty() ? "" : " but by " + e.endpoint) +
                     ": set s3.region (--region) or s3.endpoint (--endpoint)");
    case 400:
      if (e.code == "AuthorizationHeaderMalformed" && !e.region.empty()) {
        return invalid("bucket '" + bucket + "' is in region '" + e.region + "', not '" +
                       client_->region() + "': set s3.region (--region)");
      }
      break;
    default: break;
  }
  return ioError("S3 at " + endpoint + " answered the bucket check for '" + bucket +
                 "' with HTTP " + std::to_string(r->status) +
                 (e.code.empty() ? "" : " " + e.code) + (e.message.empty() ? "" : ": " + e.message));
}

Result<std::unique_ptr<Origin>> makeS3Origin(const config::OriginOptions& opts, const GetEnv& env) {
  Result<S3Location> loc = parseS3Source(opts.source);
  if (!loc.isOk()) return loc.status();
  Result<LoadedCredentials> creds = loadCredentials(opts.s3.credentials, env);
  if (!creds.isOk()) return creds.status();
  auto client = std::make_unique<S3Client>(S3ClientOptions::from(opts.s3, loc->bucket),
                                           loc->bucket, std::move(creds->key));
  auto origin = std::make_unique<S3Origin>(std::move(client), loc->prefix,
                                           opts.s3.verifyIntegrity);
  EPOCHFS_RETURN_IF_ERROR(origin->probe(creds->source));
  return std::unique_ptr<Origin>(std::move(origin));
}

}  // namespace epochfs::origin::s3
