// origin/s3/Integrity.h: what S3 says an object's bytes are, and whether a body matches it.
//
// A GET answer can say what the whole object is in two ways:
//   - an additional checksum, `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` (base64 of
//     the big-endian digest), returned when the request asked for it
//     (`x-amz-checksum-mode: ENABLED`) and the object was stored with one. A composite
//     checksum of a multipart upload ("...-N", or `x-amz-checksum-type: COMPOSITE`) is of the
//     parts' checksums, not of the bytes, and is not used;
//   - the ETag, which for an object uploaded in one part without SSE-KMS or SSE-C is the
//     hex MD5 of its bytes. A multipart ETag ("...-N") or one of an encrypted object is not.
// expectedDigest() picks the strongest one the answer offers; it applies only when the body
// is the whole object (S3Origin checks that). Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "origin/s3/HttpClient.h"

namespace epochfs::origin::s3 {

enum class DigestKind { kMd5Etag, kCrc32, kCrc32c, kCrc64Nvme, kSha1, kSha256 };

struct ExpectedDigest {
  DigestKind kind = DigestKind::kMd5Etag;
  std::string bytes;  // the raw digest (16 bytes for MD5, 4 for CRC32, ...)
  std::string shown;  // as the server sent it, for messages: the ETag or the base64 value
};

// "md5 (etag)", "crc32c", ...: for messages and stats.
std::string_view digestName(DigestKind kind);

// The digest the answer `r` (headers only) gives for the whole object whose ETag is `etag`,
// or nullopt when it gives none that can be checked.
std::optional<ExpectedDigest> expectedDigest(const HttpResponse& r, std::string_view etag);

// The digest of `data` by `kind`, raw (big-endian for the CRCs, as S3 encodes them).
std::string computeDigest(DigestKind kind, std::span<const std::byte> data);

// CRC-32C (Castagnoli) and CRC-64/NVME of `data`: exposed for tests (test vectors).
uint32_t crc32c(std::span<const std::byte> data);
uint32_t crc32cPortable(std::span<const std::byte> data);  // without SSE 4.2
uint64_t crc64nvme(std::span<const std::byte> data);

// "" when `data` matches `d`; otherwise the mismatch in words, naming both digests.
std::string checkDigest(const ExpectedDigest& d, std::span<const std::byte> data);

}  // namespace epochfs::origin::s3
