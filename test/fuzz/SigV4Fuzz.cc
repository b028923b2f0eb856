// SigV4 canonicalisation of any path and query: URI encoding round-trips, the canonical query
// is sorted, and signing never crashes.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "origin/s3/SigV4.h"

namespace s3 = epochfs::origin::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Fields separated by '\n': a path, then query names and values in turn.
  std::vector<std::string> fields;
  size_t begin = 0;
  while (begin <= in.size()) {
    size_t end = in.find('\n', begin);
    if (end == std::string_view::npos) end = in.size();
    fields.emplace_back(in.substr(begin, end - begin));
    begin = end + 1;
  }
  const std::string& path = fields[0];
  for (bool keepSlash : {false, true}) {
    if (s3::uriDecode(s3::uriEncode(path, keepSlash)) != path) std::abort();
  }
  std::vector<std::pair<std::string, std::string>> query;
  for (size_t i = 1; i + 1 < fields.size(); i += 2) query.emplace_back(fields[i], fields[i + 1]);
  const std::string q = s3::canonicalQuery(query);
  // Sorted by encoded name ('=' and '&' inside names and values are encoded), and one pair
  // per parameter.
  std::string_view rest = q, prev;
  size_t pairs = 0;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    std::string_view name = pair.substr(0, pair.find('='));
    if (name < prev || pair.find('=') == std::string_view::npos) std::abort();
    prev = name;
    ++pairs;
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  if (pairs != query.size()) std::abort();
  (void)s3::canonicalPath("/" + path);
  s3::SignInput sig;
  sig.method = "GET";
  sig.path = "/bucket/" + path;
  sig.query = query;
  sig.headers = {{"host", "127.0.0.1:7480"}, {"range", fields.size() > 1 ? fields[1] : ""}};
  sig.payloadHash = std::string(s3::kEmptyPayloadSha256);
  (void)s3::signedHeaders(std::move(sig), s3::AccessKey{"AKID", "secret", ""}, "us-east-1",
                          std::chrono::system_clock::time_point{});
  return 0;
}
