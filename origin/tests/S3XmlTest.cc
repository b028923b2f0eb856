// origin/tests/S3XmlTest.cc: ListObjectsV2 pages and error documents as S3 and RGW send them.
#include "origin/s3/S3Xml.h"

#include <gtest/gtest.h>

namespace epochfs::origin::s3 {
namespace {

// Shaped like RGW's answer to list-type=2&delimiter=/&prefix=dir/ (one page of two).
constexpr const char* kPage1 = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>data</Name><Prefix>dir/</Prefix><MaxKeys>3</MaxKeys><Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>dir/</Key><LastModified>2024-05-01T10:00:00.000Z</LastModified>
    <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>dir/a b+c%d=e &amp; &lt;x&gt;</Key><LastModified>2024-05-01T10:00:01.123Z</LastModified>
    <ETag>&quot;0cc175b9c0f1b6a831c399e269772661-2&quot;</ETag><Size>11534336</Size>
  </Contents>
  <CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes>
  <KeyCount>3</KeyCount>
  <ContinuationToken>abc</ContinuationToken>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(S3XmlTest, ListPageWithMarkerEscapesAndCommonPrefixes) {
  Result<ListPage> page = parseListObjectsV2(kPage1);
  ASSERT_TRUE(page.isOk()) << page.status().toString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "dir/");  // a directory marker: S3Origin's to interpret
  EXPECT_EQ(page->objects[0].size, 0u);
  EXPECT_EQ(page->objects[1].key, "dir/a b+c%d=e & <x>");
  EXPECT_EQ(page->objects[1].size, 11534336u);
  EXPECT_EQ(page->objects[1].etag, "\"0cc175b9c0f1b6a831c399e269772661-2\"");
  // 2024-05-01T10:00:01Z, fraction dropped.
  EXPECT_EQ(page->objects[1].mtimeNs, int64_t{1714557601} * 1'000'000'000);
  EXPECT_EQ(page->prefixes, std::vector<std::string>{"dir/sub/"});
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->nextToken, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3XmlTest, LastPageAndUnicodeKeys) {
  Result<ListPage> page = parseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key>dir/\xc3\xbcn\xc3\xaf c\xc3\xb6" "d\xc3\xa9.jpg</Key><Size>12</Size>"
      "<ETag>\"e\"</ETag><LastModified>2024-05-01T10:00:00Z</LastModified></Contents>"
      "<Contents><Key>dir/&#x1F600;</Key><Size>1</Size><ETag>\"f\"</ETag></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.isOk()) << page.status().toString();
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(page->nextToken, "");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "dir/\xc3\xbcn\xc3\xaf c\xc3\xb6" "d\xc3\xa9.jpg");
  EXPECT_EQ(page->objects[1].key, "dir/\xf0\x9f\x98\x80");  // a character reference
  EXPECT_EQ(page->objects[1].mtimeNs, 0);                  // no LastModified
}

TEST(S3XmlTest, KeysAndLeadingSpacesAreKeptExactly) {
  Result<ListPage> page = parseListObjectsV2(
      "<ListBucketResult><Contents><Key> x </Key><Size>1</Size></Contents>"
      "<CommonPrefixes><Prefix>  /</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_TRUE(page.isOk()) << page.status().toString();
  EXPECT_EQ(page->objects[0].key, " x ");
  EXPECT_EQ(page->prefixes[0], "  /");
}

TEST(S3XmlTest, UrlEncodingTypeIsDecoded) {
  Result<ListPage> page = parseListObjectsV2(
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
      "<Contents><Key>dir/a+b%2Bc%25d%3De%01</Key><Size>3</Size></Contents>"
      "<CommonPrefixes><Prefix>dir/s%C3%BCb/</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_TRUE(page.isOk()) << page.status().toString();
  EXPECT_EQ(page->objects[0].key, std::string("dir/a b+c%d=e\x01"));
  EXPECT_EQ(page->prefixes[0], "dir/s\xc3\xbc" "b/");
}

TEST(S3XmlTest, EmptyListing) {
  Result<ListPage> page = parseListObjectsV2(
      "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(page.isOk());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_TRUE(page->prefixes.empty());
}

TEST(S3XmlTest, MalformedListingsAreInvalid) {
  EXPECT_EQ(parseListObjectsV2("").status().code(), Code::kInvalid);
  EXPECT_EQ(parseListObjectsV2("<ListBucketResult><Contents>").status().code(), Code::kInvalid);
  EXPECT_EQ(parseListObjectsV2("<Error><Code>x</Code></Error>").status().code(), Code::kInvalid);
  EXPECT_EQ(parseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
                               "</Contents></ListBucketResult>").status().code(),
            Code::kInvalid);
  // Truncated without a token would make the caller loop forever.
  EXPECT_EQ(parseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "</ListBucketResult>").status().code(),
            Code::kInvalid);
}

TEST(S3XmlTest, ErrorDocuments) {
  S3ErrorDoc e = parseError(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucket</Code>"
      "<Message>The specified bucket does not exist</Message><BucketName>nope</BucketName>"
      "<RequestId>tx0</RequestId><HostId>h</HostId></Error>");
  EXPECT_EQ(e.code, "NoSuchBucket");
  EXPECT_EQ(e.message, "The specified bucket does not exist");

  S3ErrorDoc region = parseError(
      "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is "
      "wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>");
  EXPECT_EQ(region.region, "eu-west-1");

  S3ErrorDoc redirect = parseError("<Error><Code>PermanentRedirect</Code>"
                                   "<Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint></Error>");
  EXPECT_EQ(redirect.endpoint, "b.s3.eu-west-1.amazonaws.com");

  EXPECT_EQ(parseError("").code, "");
  EXPECT_EQ(parseError("<html>502 Bad Gateway</html>").code, "");
  EXPECT_EQ(parseError("not xml at all <").code, "");
}

TEST(S3XmlTest, Timestamps) {
  EXPECT_EQ(parseIso8601("2009-10-12T17:50:30.000Z"), int64_t{1255369830} * 1'000'000'000);
  EXPECT_EQ(parseIso8601("2009-10-12T17:50:30Z"), int64_t{1255369830} * 1'000'000'000);
  EXPECT_EQ(parseHttpDate("Mon, 12 Oct 2009 17:50:30 GMT"), int64_t{1255369830} * 1'000'000'000);
  EXPECT_FALSE(parseIso8601("yesterday").has_value());
  EXPECT_FALSE(parseHttpDate("2009-10-12").has_value());
  // Outside the years an int64_t of nanoseconds holds (1678-2262): malformed, not overflowed
  // (UBSan caught the multiplication; test/fuzz/ListXmlFuzz.cc found it).
  EXPECT_FALSE(parseIso8601("1004-10-12T17:50:30.000Z").has_value());
  EXPECT_FALSE(parseIso8601("9999-10-12T17:50:30Z").has_value());
  EXPECT_TRUE(parseIso8601("2261-01-01T00:00:00Z").has_value());
}

}  // namespace
}  // namespace epochfs::origin::s3
