// origin/s3/SigV4.h: AWS Signature Version 4 for S3 requests, and the URI encoding it implies.
//
// S3Client signs every attempt of every request with sign() just before sending it, so the
// x-amz-date is fresh after a backoff. The same encoders build the URL that goes on the wire,
// so what is signed is exactly what is sent. SigV4.cc is the only file that includes OpenSSL.
//
// S3's rules differ from the generic SigV4 test suite in two places: the path is NOT
// normalised ("a/./b" and "a//b" are distinct keys) and each segment is encoded once, not
// twice. Encoding is strict RFC 3986: everything but A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case
// hex, UTF-8 bytes), so ' ' is %20 (never '+'), and '+', '=', '%' are encoded too.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace epochfs::origin::s3 {

// The hash of an empty body, and the marker that leaves the body unsigned.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string hmacSha256(std::string_view key, std::string_view data);
std::string hexEncode(std::string_view bytes);

// Strict RFC 3986 percent-encoding; '/' is kept when `keepSlash`.
std::string uriEncode(std::string_view s, bool keepSlash);
// Inverse of uriEncode (any %XX, upper or lower case); a malformed escape is kept literally.
std::string uriDecode(std::string_view s);

// "20150830T123600Z" for a point in time (UTC).
std::string amzDate(std::chrono::system_clock::time_point t);

struct AccessKey {
  std::string id;
  std::string secret;
  std::string sessionToken;  // "" unless temporary credentials
};

// One request to sign. `path` and the query are NOT encoded: sign() encodes them (path segment
// by segment), and canonicalPath()/canonicalQuery() give the same strings for the URL.
struct SignInput {
  std::string method;  // "GET", "HEAD", "PUT", ...
  std::string path;    // "/bucket/a b.jpg"; "" is "/"
  std::vector<std::pair<std::string, std::string>> query;    // raw name, raw value
  std::vector<std::pair<std::string, std::string>> headers;  // every one is signed; must
                                                             // include host and x-amz-date
  std::string payloadHash;  // sha256Hex(body), kEmptyPayloadSha256 or kUnsignedPayload
};

struct Signature {
  std::string canonicalRequest;
  std::string stringToSign;
  std::string signedHeaders;  // "host;range;x-amz-date"
  std::string signature;      // lower-case hex
  std::string authorization;  // the Authorization header's value
};

// "/bucket/a%20b.jpg": each segment uriEncode()d, '/' kept, "" -> "/".
std::string canonicalPath(std::string_view path);
// "a=1&b=%2F": names and values uriEncode()d, sorted by name then value. Also the URL's query.
std::string canonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

// Signs `in` for `region` and `service` ("s3") at `date` ("20150830T123600Z", the value of
// the x-amz-date header in `in.headers`). Header names are lower-cased, values trimmed and
// inner runs of spaces collapsed, repeated names joined with ','.
Signature sign(const SignInput& in, const AccessKey& key, std::string_view region,
               std::string_view service, std::string_view date);

// What S3Client adds to a request before sending it: x-amz-date, x-amz-content-sha256,
// x-amz-security-token (with a session token) and Authorization. `in.headers` must hold host
// and may hold others (range, if-match); the returned headers are all of them, ready to send.
std::vector<std::pair<std::string, std::string>> signedHeaders(
    SignInput in, const AccessKey& key, std::string_view region,
    std::chrono::system_clock::time_point now);

}  // namespace epochfs::origin::s3
