// origin/s3/S3Xml.h: the S3 responses S3Origin reads: a ListObjectsV2 page and an error
// document, plus the two timestamp formats S3 uses. tinyxml2 stops in S3Xml.cc.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Status.h"

namespace epochfs::origin::s3 {

struct ListedObject {
  std::string key;  // full object key, decoded
  uint64_t size = 0;
  std::string etag;     // as sent, quotes included ("\"9b2cf5...\"")
  int64_t mtimeNs = 0;  // LastModified, truncated to whole seconds (HEAD's resolution)
};

struct ListPage {
  std::vector<ListedObject> objects;   // <Contents>, in the order sent
  std::vector<std::string> prefixes;   // <CommonPrefixes><Prefix>, decoded, with the delimiter
  bool truncated = false;
  std::string nextToken;  // NextContinuationToken, when truncated
};

// Parses a ListBucketResult (ListObjectsV2). With <EncodingType>url</EncodingType> keys and
// prefixes are URL-decoded ('+' is a space there, as S3 form-encodes them). kInvalid when the
// document is not a ListBucketResult, a size is not a number, or a truncated page has no
// continuation token (we would loop forever).
Result<ListPage> parseListObjectsV2(std::string_view xml);

struct S3ErrorDoc {
  std::string code;     // "NoSuchBucket", "SignatureDoesNotMatch", ...; "" if not an S3 error
  std::string message;  // S3's human text
  std::string region;   // <Region>, sent with AuthorizationHeaderMalformed
  std::string endpoint; // <Endpoint>, sent with PermanentRedirect
};

// Best effort: an empty or unparsable body gives an empty code. S3's error documents never
// echo a secret (SignatureDoesNotMatch carries the string to sign and the access key id, which
// we drop here anyway: only the four fields above are kept).
S3ErrorDoc parseError(std::string_view xml);

// "2009-10-12T17:50:30.000Z" -> nanoseconds since the epoch, whole seconds only.
std::optional<int64_t> parseIso8601(std::string_view text);
// "Wed, 12 Oct 2009 17:50:30 GMT" (RFC 7231 IMF-fixdate) -> nanoseconds since the epoch.
std::optional<int64_t> parseHttpDate(std::string_view text);

}  // namespace epochfs::origin::s3
