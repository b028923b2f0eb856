// origin/tests/S3IntegrityTest.cc: digests (test vectors), which digest an answer offers, and
// S3Origin checking what a fake server sends: a corrupted body is retried and never returned,
// a body that stays corrupt is kCorrupt naming the object, parts of objects are unverified.
// The same against a real RGW behind a corrupting proxy: test/integration/test_s3_integrity.py.
#include <openssl/evp.h>

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/Options.h"
#include "origin/s3/Integrity.h"
#include "origin/s3/S3Origin.h"
#include "origin/tests/S3FakeServer.h"
#include "origin/tests/S3TestOptions.h"

namespace epochfs::origin::s3 {
namespace {

std::span<const std::byte> bytesOf(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string md5Hex(std::string_view s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 15]);
  }
  return out;
}

std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

HttpResponse answer(std::vector<std::pair<std::string, std::string>> headers) {
  HttpResponse r;
  r.status = 200;
  r.headers = std::move(headers);
  return r;
}

TEST(S3IntegrityTest, DigestsMatchTheirTestVectors) {
  const auto check = bytesOf("123456789");
  EXPECT_EQ(crc32c(check), 0xE3069283u);
  EXPECT_EQ(crc32cPortable(check), 0xE3069283u);
  EXPECT_EQ(crc64nvme(check), 0xAE8B14860A799888ull);
  EXPECT_EQ(computeDigest(DigestKind::kCrc32, check), std::string("\xCB\xF4\x39\x26", 4));
  EXPECT_EQ(computeDigest(DigestKind::kCrc32c, check), std::string("\xE3\x06\x92\x83", 4));
  EXPECT_EQ(computeDigest(DigestKind::kMd5Etag, bytesOf("")).size(), 16u);
  EXPECT_EQ(computeDigest(DigestKind::kSha256, bytesOf("")).size(), 32u);
  EXPECT_EQ(computeDigest(DigestKind::kSha1, bytesOf("")).size(), 20u);
}

// The fast paths (slicing-by-8, SSE 4.2) against the bit-at-a-time definition, at every
// alignment and tail length.
TEST(S3IntegrityTest, FastCrcsAgreeWithTheDefinition) {
  auto bitwise = [](auto poly, auto init, std::span<const std::byte> d) {
    auto c = init;
    for (std::byte b : d) {
      c ^= static_cast<uint8_t>(b);
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    }
    return static_cast<decltype(init)>(~c);
  };
  std::string data(3000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919 + 13) & 0xff);
  for (size_t start : {0u, 1u, 3u, 7u}) {
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 1000u, 2990u}) {
      const auto d = bytesOf(std::string_view(data).substr(start, len));
      const uint32_t want32 = bitwise(0x82F63B78u, ~0u, d);
      EXPECT_EQ(crc32c(d), want32) << start << "+" << len;
      EXPECT_EQ(crc32cPortable(d), want32) << start << "+" << len;
      EXPECT_EQ(crc64nvme(d), bitwise(0x9A6C9329AC4BC9B5ull, ~0ull, d)) << start << "+" << len;
    }
  }
}

TEST(S3IntegrityTest, AnMd5EtagIsUsedOnlyWhenItIsOne) {
  const std::string etag = "\"" + md5Hex("hello") + "\"";
  std::optional<ExpectedDigest> d = expectedDigest(answer({}), etag);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, DigestKind::kMd5Etag);
  EXPECT_EQ(checkDigest(*d, bytesOf("hello")), "");
  const std::string why = checkDigest(*d, bytesOf("hellO"));
  EXPECT_NE(why.find(md5Hex("hellO")), std::string::npos) << why;
  EXPECT_NE(why.find(etag), std::string::npos) << why;

  // Multipart, made-up, and encrypted objects' ETags are not MD5s of the bytes.
  EXPECT_FALSE(expectedDigest(answer({}), "\"" + md5Hex("x") + "-3\"").has_value());
  EXPECT_FALSE(expectedDigest(answer({}), "\"v1\"").has_value());
  EXPECT_FALSE(expectedDigest(answer({{"x-amz-server-side-encryption", "aws:kms"}}), etag));
  EXPECT_FALSE(expectedDigest(
      answer({{"x-amz-server-side-encryption-customer-algorithm", "AES256"}}), etag));
  // SSE-S3 (AES256) keeps the MD5 ETag.
  EXPECT_TRUE(expectedDigest(answer({{"x-amz-server-side-encryption", "AES256"}}), etag));
}

TEST(S3IntegrityTest, AnAdditionalChecksumWinsOverTheEtagUnlessItIsComposite) {
  const std::string body = "123456789";
  const std::string crc = base64(std::string("\xE3\x06\x92\x83", 4));
  const std::string etag = "\"" + md5Hex(body) + "\"";
  std::optional<ExpectedDigest> d = expectedDigest(answer({{"x-amz-checksum-crc32c", crc}}), etag);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, DigestKind::kCrc32c);
  EXPECT_EQ(checkDigest(*d, bytesOf(body)), "");
  EXPECT_NE(checkDigest(*d, bytesOf("123456780")), "");

  // The strongest of several.
  const std::string sha = base64(computeDigest(DigestKind::kSha256, bytesOf(body)));
  d = expectedDigest(answer({{"x-amz-checksum-crc32c", crc}, {"x-amz-checksum-sha256", sha}}), etag);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, DigestKind::kSha256);

  // A composite checksum (of the parts' checksums) is not of the bytes: the ETag is used.
  d = expectedDigest(answer({{"x-amz-checksum-crc32c", crc + "-2"}}), etag);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, DigestKind::kMd5Etag);
  d = expectedDigest(
      answer({{"x-amz-checksum-crc32c", crc}, {"x-amz-checksum-type", "COMPOSITE"}}), etag);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, DigestKind::kMd5Etag);
  // A malformed value is not trusted either way.
  d = expectedDigest(answer({{"x-amz-checksum-crc32c", "not base64!"}}), "\"v1\"");
  EXPECT_FALSE(d.has_value());
}

// A FakeBucket behind a handler that can corrupt GET bodies and add headers.
struct CorruptingBucket {
  FakeBucket bucket{"data"};
  std::atomic<int> corruptNext{0};  // GETs to corrupt (one flipped byte), -1 = all
  std::vector<std::pair<std::string, std::string>> extraHeaders;
  std::atomic<int> askedForChecksums{0};

  FakeResponse handle(const FakeRequest& req) {
    FakeResponse r = bucket.handle(req);
    if (req.method != "GET" || r.status / 100 != 2 || r.body.empty()) return r;
    if (auto m = req.headers.find("x-amz-checksum-mode");
        m != req.headers.end() && m->second == "ENABLED") {
      askedForChecksums++;
    }
    for (const auto& h : extraHeaders) r.headers.push_back(h);
    int n = corruptNext.load();
    if (n == -1 || (n > 0 && corruptNext.compare_exchange_strong(n, n - 1))) {
      r.body[r.body.size() / 2] ^= 0x20;
    }
    return r;
  }
};

class S3IntegrityOriginTest : public ::testing::Test {
 protected:
  std::unique_ptr<S3Origin> origin(bool verify = true) {
    const config::S3Options o = fastOptions(server.endpoint());
    auto client = std::make_unique<S3Client>(S3ClientOptions::from(o, "data"), "data",
                                             AccessKey{"AKIDFAKE0001", "secret", ""});
    return std::make_unique<S3Origin>(std::move(client), "", verify);
  }
  Result<std::string> read(Origin& o, const std::string& key, const std::string& etag,
                           uint64_t offset, size_t len) {
    std::string buf(len, '\0');
    Result<size_t> n = o.read(key, etag, offset,
                              {reinterpret_cast<std::byte*>(buf.data()), buf.size()});
    if (!n.isOk()) return n.status();
    buf.resize(*n);
    return buf;
  }

  CorruptingBucket fake;
  S3FakeServer server{[this](const FakeRequest& r) { return fake.handle(r); }};
  const std::string body = std::string(5000, 'a') + "the middle" + std::string(5000, 'z');
  const std::string etag = "\"" + md5Hex(body) + "\"";
};

TEST_F(S3IntegrityOriginTest, ACorruptedAnswerIsRetriedAndNeverReturned) {
  fake.bucket.put("f.bin", body, etag);
  auto o = origin();
  fake.corruptNext = 2;
  Result<std::string> got = read(*o, "f.bin", etag, 0, body.size());
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ(*got, body);
  EXPECT_EQ(fake.bucket.count("GET"), 3);
  EXPECT_GE(fake.askedForChecksums.load(), 3);
  IntegrityStats s = o->integrity();
  EXPECT_EQ(s.mode, "s3");
  EXPECT_EQ(s.mismatches, 2u);
  EXPECT_EQ(s.verifiedReads, 1u);
  EXPECT_EQ(s.verifiedBytes, body.size());
  EXPECT_EQ(s.failedReads, 0u);
}

TEST_F(S3IntegrityOriginTest, AnAnswerThatStaysCorruptIsAnErrorNamingTheObject) {
  fake.bucket.put("dir/f.bin", body, etag);
  auto o = origin();
  fake.corruptNext = -1;
  Result<std::string> got = read(*o, "dir/f.bin", etag, 0, body.size() + 100);
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kCorrupt);
  EXPECT_NE(got.status().message().find("s3://data/dir/f.bin"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("md5"), std::string::npos) << got.status().message();
  EXPECT_EQ(fake.bucket.count("GET"), 4);  // every attempt of the retry policy
  IntegrityStats s = o->integrity();
  EXPECT_EQ(s.mismatches, 4u);
  EXPECT_EQ(s.failedReads, 1u);
  EXPECT_EQ(s.verifiedReads, 0u);
}

TEST_F(S3IntegrityOriginTest, AChecksumHeaderIsCheckedToo) {
  fake.bucket.put("f.bin", body, "\"v7\"");  // an ETag that is no MD5: only the checksum
  fake.extraHeaders = {{"x-amz-checksum-sha256",
                        base64(computeDigest(DigestKind::kSha256, bytesOf(body + "x")))}};
  auto o = origin();
  Result<std::string> got = read(*o, "f.bin", "\"v7\"", 0, body.size());
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kCorrupt);
  EXPECT_NE(got.status().message().find("sha256"), std::string::npos) << got.status().message();

  fake.extraHeaders = {{"x-amz-checksum-sha256",
                        base64(computeDigest(DigestKind::kSha256, bytesOf(body)))}};
  got = read(*o, "f.bin", "\"v7\"", 0, body.size());
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ(*got, body);
  EXPECT_EQ(o->integrity().verifiedReads, 1u);
}

TEST_F(S3IntegrityOriginTest, PartsOfAnObjectAndUncheckableEtagsAreCountedUnverified) {
  fake.bucket.put("f.bin", body, etag);
  fake.bucket.put("multi.bin", body, "\"" + md5Hex("parts") + "-2\"");
  auto o = origin();
  Result<std::string> part = read(*o, "f.bin", etag, 100, 1000);
  ASSERT_TRUE(part.isOk()) << part.status().toString();
  EXPECT_EQ(*part, body.substr(100, 1000));
  part = read(*o, "f.bin", etag, 0, 1000);  // the start, not the whole
  ASSERT_TRUE(part.isOk()) << part.status().toString();
  Result<std::string> multi = read(*o, "multi.bin", "\"" + md5Hex("parts") + "-2\"", 0, body.size());
  ASSERT_TRUE(multi.isOk()) << multi.status().toString();
  IntegrityStats s = o->integrity();
  EXPECT_EQ(s.verifiedReads, 0u);
  EXPECT_EQ(s.unverifiedReads, 3u);
  EXPECT_EQ(s.unverifiedBytes, 2000u + body.size());
}

TEST_F(S3IntegrityOriginTest, VerificationOffSendsNoChecksumModeAndChecksNothing) {
  fake.bucket.put("f.bin", body, etag);
  auto o = origin(/*verify=*/false);
  Result<std::string> got = read(*o, "f.bin", etag, 0, body.size());
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ(fake.askedForChecksums.load(), 0);
  EXPECT_EQ(o->integrity().mode, "off");
  EXPECT_EQ(o->integrity().verifiedReads, 0u);
}

}  // namespace
}  // namespace epochfs::origin::s3
