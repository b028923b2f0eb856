// The checksum headers and ETag of an answer: any values give a digest of the right size or
// none, and checking a body against it never crashes.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "origin/s3/Integrity.h"

namespace s3 = epochfs::origin::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // "etag\nheader-value\nbody": the value goes into each checksum header in turn.
  size_t a = in.find('\n');
  size_t b = a == std::string_view::npos ? a : in.find('\n', a + 1);
  std::string etag(in.substr(0, a));
  std::string value(a == std::string_view::npos ? "" : in.substr(a + 1, b - a - 1));
  std::string_view body = b == std::string_view::npos ? "" : in.substr(b + 1);
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(body.data()), body.size());
  for (const char* name : {"x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-sha1",
                           "x-amz-checksum-sha256", "x-amz-checksum-crc64nvme", "x-other"}) {
    s3::HttpResponse r;
    r.status = 200;
    r.headers = {{name, value}};
    auto d = s3::expectedDigest(r, etag);
    if (!d) continue;
    if (d->bytes.size() != s3::computeDigest(d->kind, {}).size()) std::abort();
    const std::string why = s3::checkDigest(*d, bytes);
    if (why.empty() != (s3::computeDigest(d->kind, bytes) == d->bytes)) std::abort();
  }
  return 0;
}
