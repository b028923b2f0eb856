// origin/s3/S3Xml.cc: tinyxml2 stops here.
#include "origin/s3/S3Xml.h"

#include <tinyxml2.h>

#include <charconv>
#include <cstring>
#include <ctime>

#include "common/Strings.h"

namespace epochfs::origin::s3 {
namespace {

using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;

std::string textOf(const XMLElement* parent, const char* name) {
  const XMLElement* e = parent == nullptr ? nullptr : parent->FirstChildElement(name);
  if (e == nullptr || e->GetText() == nullptr) return "";
  return e->GetText();
}

// S3's encoding-type=url is form encoding: '+' is a space, a real '+' is %2B.
std::string formDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 &&
               hexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool parseUint(std::string_view s, uint64_t& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

std::optional<int64_t> fromTm(std::tm& tm) {
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  // Nanoseconds since 1970 in an int64_t reach only the years 1678-2262: a date outside them
  // is as malformed as any other (found by test/fuzz/ListXmlFuzz.cc).
  int64_t ns = 0;
  if (__builtin_mul_overflow(static_cast<int64_t>(t), int64_t{1'000'000'000}, &ns)) {
    return std::nullopt;
  }
  return ns;
}

}  // namespace

Result<ListPage> parseListObjectsV2(std::string_view xml) {
  XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    return invalid(std::string("malformed ListObjectsV2 response: ") + doc.ErrorStr());
  }
  const XMLElement* root = doc.RootElement();
  if (root == nullptr || std::strcmp(root->Name(), "ListBucketResult") != 0) {
    return invalid("not a ListObjectsV2 response (no ListBucketResult)");
  }
  const bool urlEncoded = textOf(root, "EncodingType") == "url";
  auto decode = [&](std::string s) { return urlEncoded ? formDecode(s) : s; };

  ListPage page;
  for (const XMLElement* c = root->FirstChildElement("Contents"); c != nullptr;
       c = c->NextSiblingElement("Contents")) {
    ListedObject obj;
    obj.key = decode(textOf(c, "Key"));
    if (!parseUint(textOf(c, "Size"), obj.size)) {
      return invalid("ListObjectsV2 response: bad <Size> for a key");
    }
    obj.etag = textOf(c, "ETag");
    obj.mtimeNs = parseIso8601(textOf(c, "LastModified")).value_or(0);
    page.objects.push_back(std::move(obj));
  }
  for (const XMLElement* p = root->FirstChildElement("CommonPrefixes"); p != nullptr;
       p = p->NextSiblingElement("CommonPrefixes")) {
    page.prefixes.push_back(decode(textOf(p, "Prefix")));
  }
  page.truncated = textOf(root, "IsTruncated") == "true";
  page.nextToken = textOf(root, "NextContinuationToken");
  if (page.truncated && page.nextToken.empty()) {
    return invalid("ListObjectsV2 response is truncated but has no NextContinuationToken");
  }
  return page;
}

S3ErrorDoc parseError(std::string_view xml) {
  S3ErrorDoc err;
  if (xml.empty()) return err;
  XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) return err;
  const XMLElement* root = doc.RootElement();
  if (root == nullptr || std::strcmp(root->Name(), "Error") != 0) return err;
  err.code = textOf(root, "Code");
  err.message = textOf(root, "Message");
  err.region = textOf(root, "Region");
  err.endpoint = textOf(root, "Endpoint");
  return err;
}

std::optional<int64_t> parseIso8601(std::string_view text) {
  // strptime wants a NUL-terminated string; the fractional part and 'Z' are ignored.
  std::string s(text.substr(0, 19));
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return fromTm(tm);
}

std::optional<int64_t> parseHttpDate(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return fromTm(tm);
}

}  // namespace epochfs::origin::s3
