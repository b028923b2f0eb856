// A ListObjectsV2 answer and an S3 error document from a server we do not trust: parsed or
// refused, never a crash; a truncated page always carries a continuation token.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "origin/s3/S3Xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto page = epochfs::origin::s3::parseListObjectsV2(xml);
  if (page.isOk() && page->truncated && page->nextToken.empty()) std::abort();
  (void)epochfs::origin::s3::parseError(xml);
  (void)epochfs::origin::s3::parseIso8601(xml);
  (void)epochfs::origin::s3::parseHttpDate(xml);
  return 0;
}
