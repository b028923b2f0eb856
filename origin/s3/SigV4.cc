// origin/s3/SigV4.cc: the signer. OpenSSL stops here.
//
// Built from the published algorithm (Canonical request -> string to sign -> HMAC chain of
// date, region, service, "aws4_request") and checked against AWS's test-suite vectors and the
// S3 examples in origin/tests/S3SigV4Test.cc.
#include "origin/s3/SigV4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cassert>
#include <ctime>
#include <map>

#include "common/Strings.h"

namespace epochfs::origin::s3 {
namespace {

bool isUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// Trims and collapses runs of spaces and tabs into one space, as the canonical form requires
// (the test suite's get-header-value-trim: ' "a   b   c"' -> '"a b c"').
std::string canonicalHeaderValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pendingSpace = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out.push_back(' ');
    pendingSpace = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string hexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  // EVP_Digest is thread-safe and allocates its context internally.
  int ok = EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  assert(ok == 1 && len == SHA256_DIGEST_LENGTH);
  (void)ok;
  return hexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  unsigned char* r =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  assert(r != nullptr && len == 32);
  (void)r;
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string uriEncode(std::string_view s, bool keepSlash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (isUnreserved(c) || (keepSlash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string uriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string amzDate(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

std::string canonicalPath(std::string_view path) {
  if (path.empty()) return "/";
  // Segment by segment with '/' kept is the same as encoding the whole path with '/' kept.
  std::string out = uriEncode(path, /*keepSlash=*/true);
  if (out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

std::string canonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [name, value] : query) {
    enc.emplace_back(uriEncode(name, false), uriEncode(value, false));
  }
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [name, value] : enc) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

Signature sign(const SignInput& in, const AccessKey& key, std::string_view region,
               std::string_view service, std::string_view date) {
  // name -> values in the order given; std::map sorts names bytewise as required.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : in.headers) {
    std::string& slot = headers[lower(name)];
    if (!slot.empty()) slot.push_back(',');
    slot += canonicalHeaderValue(value);
  }
  Signature sig;
  std::string canonicalHeaders;
  for (const auto& [name, value] : headers) {
    canonicalHeaders += name + ":" + value + "\n";
    if (!sig.signedHeaders.empty()) sig.signedHeaders.push_back(';');
    sig.signedHeaders += name;
  }
  sig.canonicalRequest = in.method + "\n" + canonicalPath(in.path) + "\n" +
                         canonicalQuery(in.query) + "\n" + canonicalHeaders + "\n" +
                         sig.signedHeaders + "\n" + in.payloadHash;

  const std::string_view day = date.substr(0, 8);
  const std::string scope = std::string(day) + "/" + std::string(region) + "/" +
                            std::string(service) + "/aws4_request";
  sig.stringToSign = "AWS4-HMAC-SHA256\n" + std::string(date) + "\n" + scope + "\n" +
                     sha256Hex(sig.canonicalRequest);

  std::string k = hmacSha256("AWS4" + key.secret, day);
  k = hmacSha256(k, region);
  k = hmacSha256(k, service);
  k = hmacSha256(k, "aws4_request");
  sig.signature = hexEncode(hmacSha256(k, sig.stringToSign));
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + key.id + "/" + scope +
                      ", SignedHeaders=" + sig.signedHeaders + ", Signature=" + sig.signature;
  return sig;
}

std::vector<std::pair<std::string, std::string>> signedHeaders(
    SignInput in, const AccessKey& key, std::string_view region,
    std::chrono::system_clock::time_point now) {
  const std::string date = amzDate(now);
  in.headers.emplace_back("x-amz-date", date);
  in.headers.emplace_back("x-amz-content-sha256", in.payloadHash);
  if (!key.sessionToken.empty()) in.headers.emplace_back("x-amz-security-token", key.sessionToken);
  Signature sig = sign(in, key, region, "s3", date);
  in.headers.emplace_back("Authorization", std::move(sig.authorization));
  return std::move(in.headers);
}

}  // namespace epochfs::origin::s3
