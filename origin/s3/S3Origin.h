// origin/s3/S3Origin.h: an Origin over a bucket (or a prefix of one) of any S3-compatible
// store: AWS S3, Ceph RGW, MinIO.
//
// The origin key "a/b.jpg" is the object PREFIX/a/b.jpg. Directories do not exist in S3; a
// directory here is a prefix that some object's key continues with '/'. The mapping (see also
// docs/semantics.md, "S3 origins"):
//   - stat(key): a directory if any object's key starts with "key/" (one ListObjectsV2,
//     max-keys=1), else the object `key` (HEAD), else kNotFound. stat("") is the root, without
//     a request (makeS3Origin() checked the bucket once).
//   - list(key): ListObjectsV2 with delimiter '/' and the continuation token, 1000 keys a
//     page. Files from <Contents> (size, ETag, LastModified), directories from
//     <CommonPrefixes>.
//   - A directory marker (an object whose key ends in '/', as consoles create for "folders")
//     makes its directory exist (so empty directories survive) and is never a file.
//   - A key that is both an object and a prefix ("a" and "a/b"): the directory wins, the object
//     "a" is hidden from stat, list and listRecursive (reading it by etag still works).
//   - Keys that are not valid origin keys (an empty, "." or ".." component: "a//b", "a/./b")
//     are not visible; their valid leading directories are.
//   - read(): a ranged GET ("bytes=a-b") with If-Match: etag; 412 is kStale, 416 (at or after
//     the end) reads 0 bytes, a 200 to a Range is cut to the range. An object's etag is its
//     S3 ETag, quotes included, so it changes with every overwrite.
//   - Integrity (unless `verify` is off): every GET asks for the object's additional checksum
//     (x-amz-checksum-mode: ENABLED); an answer that holds the whole object is checked against
//     that checksum, or else against an ETag that is an MD5 (origin/s3/Integrity.h). A
//     mismatch is retried like a 503; when the retries run out, read() fails with kCorrupt
//     naming the object. Parts of larger objects have nothing to check against: counted as
//     unverified (docs/semantics.md, "Integrity").
//
// Thread-safe; requests run in parallel up to s3.max_connections.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "origin/Origin.h"
#include "origin/s3/Credentials.h"
#include "origin/s3/S3Client.h"

namespace epochfs::config {
struct OriginOptions;
}

namespace epochfs::origin::s3 {

class S3Origin final : public Origin {
 public:
  // `prefix`: without leading or trailing '/'; "" for the whole bucket.
  S3Origin(std::unique_ptr<S3Client> client, std::string prefix, bool verify = true);

  // "s3://bucket/prefix (http://127.0.0.1:7480, region us-east-1)". No credentials.
  std::string describe() const override;
  Result<ObjectInfo> stat(std::string_view key) override;
  Result<std::vector<DirEntry>> list(std::string_view key) override;
  Result<size_t> read(std::string_view key, std::string_view etag, uint64_t offset,
                      std::span<std::byte> out) override;
  // One ListObjectsV2 pass without delimiter, 1000 keys a page: requests = keys / 1000.
  Result<std::vector<TreeEntry>> listRecursive(std::string_view key) override;
  unsigned maxConcurrency() const override;
  IntegrityStats integrity() const override;

  // The mount-time check: one ListObjectsV2 (max-keys=1) on the prefix with a short deadline
  // (at most 3 attempts, about 9 s in all). OK, or a message that names the cause for people:
  // kUnavailable "cannot reach S3 endpoint ...", kPermissionDenied naming the access key id
  // (never the secret) and whether the key is unknown or the secret wrong, kNotFound naming a
  // missing bucket, kInvalid for a bucket in another region.
  Status probe(std::string_view credentialSource = "");

  S3Client& client() { return *client_; }

 private:
  std::string objectKey(std::string_view key) const;  // PREFIX/key
  std::string dirPrefix(std::string_view key) const;  // PREFIX/key/ ("" or PREFIX/ for the root)
  std::string where(std::string_view key) const;      // "s3://bucket/PREFIX/key" for messages
  Status errorFor(const S3Response& r, std::string_view op, std::string_view key) const;
  // Does any object start with dirPrefix(key)? One ListObjectsV2 with max-keys=1.
  Result<bool> isDirectory(std::string_view key);
  // HEAD: the object's info, or kNotFound.
  Result<ObjectInfo> head(std::string_view key);
  // ListObjectsV2 of `prefix` (with delimiter '/' if `delimited`), 1000 keys a page,
  // following the continuation token to the last page; `onPage` sees every page in order.
  // Errors, naming `key`: the request's, errorFor()'s for an answer other than 200, kIo for a
  // page that does not parse.
  Status listPages(std::string_view key, const std::string& prefix, bool delimited,
                   const std::function<void(const ListPage&)>& onPage);
  // list()/listRecursive() found no key below `key`: kNotDirectory if it is an object,
  // kNotFound if nothing is there (one HEAD).
  Status nothingBelow(std::string_view key);

  // The check of one GET answer (S3Request::verify): "" if it may be taken; sets `verified`.
  std::string verifyBody(const HttpResponse& h, std::string_view key, std::string_view etag,
                         uint64_t offset, std::span<const std::byte> out, bool& verified);

  std::unique_ptr<S3Client> client_;
  std::string prefix_;
  const bool verify_;
  std::atomic<uint64_t> verifiedReads_{0}, verifiedBytes_{0}, unverifiedReads_{0},
      unverifiedBytes_{0}, mismatches_{0}, failedReads_{0};
};

// makeOrigin() for "s3://BUCKET[/PREFIX]": parses the source, loads credentials (from `env`
// and the files the options name), builds the client and runs probe(). Errors as probe(), or
// kInvalid for a malformed source or missing credentials.
Result<std::unique_ptr<Origin>> makeS3Origin(const config::OriginOptions& opts,
                                             const GetEnv& env = processEnv());

}  // namespace epochfs::origin::s3
