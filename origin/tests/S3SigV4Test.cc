// origin/tests/S3SigV4Test.cc: the signer against AWS's published vectors.
//
// Two sources:
//  - The AWS SigV4 test suite (aws-sig-v4-test-suite, 2015-08-30; credential scope
//    AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, secret
//    wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY). For each vector we check the canonical request
//    (.creq), the string to sign (.sts) and the signature (.authz) where the suite publishes
//    them. Left out on purpose: the vectors that normalise the path (get-relative,
//    get-relative-relative, get-slash, get-slash-dot-slash, get-slash-pointless-dot,
//    get-slashes): S3 does not normalise paths ("a/./b" is a key of its own), and the
//    double-encoding variants: S3 encodes each path segment once.
//  - The S3 examples of the "Authenticating Requests (AWS Signature Version 4)" docs
//    (examplebucket, AKIAIOSFODNN7EXAMPLE, 20130524T000000Z).
#include "origin/s3/SigV4.h"

#include <map>

#include <gtest/gtest.h>

namespace epochfs::origin::s3 {
namespace {

const AccessKey kSuiteKey{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kSuiteDate = "20150830T123600Z";
const std::string kEmpty(kEmptyPayloadSha256);

struct Vector {
  std::string name;
  std::string method;
  std::string path;  // raw (decoded), as the .req file means it
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // besides host and x-amz-date
  std::string body;
  std::string creq;       // expected canonical request ("" = not checked)
  std::string sts;        // expected string to sign ("" = not checked)
  std::string signature;  // expected
};

Signature signVector(const Vector& v) {
  SignInput in;
  in.method = v.method;
  in.path = v.path;
  in.query = v.query;
  in.headers = v.headers;
  in.headers.emplace_back("Host", "example.amazonaws.com");
  in.headers.emplace_back("X-Amz-Date", std::string(kSuiteDate));
  in.payloadHash = sha256Hex(v.body);
  return sign(in, kSuiteKey, "us-east-1", "service", kSuiteDate);
}

// `before` and `after`: canonical header lines that sort before host and between host and
// x-amz-date.
std::string creqOf(const std::string& method, const std::string& path, const std::string& query,
                   const std::string& before, const std::string& signedHeaders,
                   const std::string& payload = kEmpty, const std::string& after = "") {
  return method + "\n" + path + "\n" + query + "\n" + before + "host:example.amazonaws.com\n" +
         after + "x-amz-date:20150830T123600Z\n\n" + signedHeaders + "\n" + payload;
}

std::string stsOf(const std::string& creqHash) {
  return "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" +
         creqHash;
}

std::vector<Vector> suite() {
  return {
      {"get-vanilla", "GET", "/", {}, {}, "",
       creqOf("GET", "/", "", "", "host;x-amz-date"),
       stsOf("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-vanilla-query-order-key-case", "GET", "/",
       {{"Param2", "value2"}, {"Param1", "value1"}}, {}, "",
       creqOf("GET", "/", "Param1=value1&Param2=value2", "", "host;x-amz-date"),
       stsOf("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-empty-query-key", "GET", "/", {{"Param1", "value1"}}, {}, "",
       creqOf("GET", "/", "Param1=value1", "", "host;x-amz-date"), "",
       "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
      {"get-vanilla-query-unreserved", "GET", "/",
       {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
       {}, "",
       creqOf("GET", "/",
              "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
              "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
              "", "host;x-amz-date"),
       "", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query", "GET", "/", {{"\xe1\x88\xb4", "bar"}}, {}, "",
       creqOf("GET", "/", "%E1%88%B4=bar", "", "host;x-amz-date"),
       stsOf("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-utf8", "GET", "/\xe1\x88\xb4", {}, {}, "",
       creqOf("GET", "/%E1%88%B4", "", "", "host;x-amz-date"), "",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-space", "GET", "/example space/", {}, {}, "",
       creqOf("GET", "/example%20space/", "", "", "host;x-amz-date"), "",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {}, {}, "",
       creqOf("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", "",
              "host;x-amz-date"),
       "", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-header-value-trim", "GET", "/", {},
       {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, "",
       creqOf("GET", "/", "", "", "host;my-header1;my-header2;x-amz-date", kEmpty,
              "my-header1:value1\nmy-header2:\"a b c\"\n"),
       stsOf("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"get-header-key-duplicate", "GET", "/", {},
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, "",
       creqOf("GET", "/", "", "", "host;my-header1;x-amz-date", kEmpty,
              "my-header1:value2,value2,value1\n"),
       "", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"post-vanilla", "POST", "/", {}, {}, "",
       creqOf("POST", "/", "", "", "host;x-amz-date"),
       stsOf("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-header-value-case", "POST", "/", {}, {{"My-Header1", "VALUE1"}}, "",
       creqOf("POST", "/", "", "", "host;my-header1;x-amz-date", kEmpty, "my-header1:VALUE1\n"),
       "",
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {"post-vanilla-query-nonunreserved", "POST", "/",
       {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}}, {}, "",
       creqOf("POST", "/",
              "%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D&%40%23%24%25%5E=", "",
              "host;x-amz-date"),
       "", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
      {"post-x-www-form-urlencoded", "POST", "/", {},
       {{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1",
       creqOf("POST", "/", "", "content-type:application/x-www-form-urlencoded\n",
              "content-type;host;x-amz-date",
              "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
       "", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {"post-x-www-form-urlencoded-parameters", "POST", "/", {},
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}}, "Param1=value1",
       "", "", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
      {"post-sts-header-before", "POST", "/", {},
       {{"X-Amz-Security-Token",
         "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmx"
         "fpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0"
         "KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lI"
         "ZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="}},
       "", "", "", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
  };
}

TEST(SigV4Test, AwsTestSuiteVectors) {
  for (const Vector& v : suite()) {
    SCOPED_TRACE(v.name);
    Signature sig = signVector(v);
    if (!v.creq.empty()) {
      EXPECT_EQ(sig.canonicalRequest, v.creq);
    }
    if (!v.sts.empty()) {
      EXPECT_EQ(sig.stringToSign, v.sts);
    }
    EXPECT_EQ(sig.signature, v.signature);
  }
}

TEST(SigV4Test, AuthorizationHeaderOfGetVanilla) {
  Signature sig = signVector(suite()[0]);
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// The S3 documentation's examples.
const AccessKey kS3Key{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kS3Date = "20130524T000000Z";

SignInput s3Input(std::string method, std::string path,
                  std::vector<std::pair<std::string, std::string>> query = {},
                  std::vector<std::pair<std::string, std::string>> headers = {},
                  std::string payloadHash = kEmpty) {
  SignInput in;
  in.method = std::move(method);
  in.path = std::move(path);
  in.query = std::move(query);
  in.headers = std::move(headers);
  in.headers.emplace_back("Host", "examplebucket.s3.amazonaws.com");
  in.headers.emplace_back("x-amz-date", std::string(kS3Date));
  in.headers.emplace_back("x-amz-content-sha256", payloadHash);
  in.payloadHash = std::move(payloadHash);
  return in;
}

TEST(SigV4Test, S3GetObjectWithRange) {
  Signature sig = sign(s3Input("GET", "/test.txt", {}, {{"Range", "bytes=0-9"}}), kS3Key,
                       "us-east-1", "s3", kS3Date);
  EXPECT_EQ(sig.canonicalRequest,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" + kEmpty + "\nx-amz-date:20130524T000000Z\n\n"
            "host;range;x-amz-content-sha256;x-amz-date\n" + kEmpty);
  EXPECT_EQ(sig.stringToSign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sig.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, S3PutObjectKeyWithDollar) {
  const std::string body = "Welcome to Amazon S3.";
  Signature sig = sign(s3Input("PUT", "/test$file.text", {},
                               {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                               sha256Hex(body)),
                       kS3Key, "us-east-1", "s3", kS3Date);
  EXPECT_EQ(sha256Hex(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_NE(sig.canonicalRequest.find("\n/test%24file.text\n"), std::string::npos);
  EXPECT_EQ(sig.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, S3GetBucketLifecycleQueryWithoutValue) {
  Signature sig = sign(s3Input("GET", "/", {{"lifecycle", ""}}), kS3Key, "us-east-1", "s3", kS3Date);
  EXPECT_EQ(sig.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, S3ListObjectsSortsTheQuery) {
  Signature sig = sign(s3Input("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}), kS3Key,
                       "us-east-1", "s3", kS3Date);
  EXPECT_NE(sig.canonicalRequest.find("\n/\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(sig.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, SessionTokenIsSentAndSigned) {
  AccessKey key = kS3Key;
  key.sessionToken = "FQoGZXIvYXdzEXAMPLE/+=";
  SignInput in;
  in.method = "GET";
  in.path = "/b/k";
  in.headers = {{"host", "h"}};
  in.payloadHash = kEmpty;
  auto headers = signedHeaders(in, key, "us-east-1", std::chrono::system_clock::time_point{});
  std::map<std::string, std::string> byName(headers.begin(), headers.end());
  EXPECT_EQ(byName["x-amz-security-token"], key.sessionToken);
  EXPECT_EQ(byName["x-amz-date"], "19700101T000000Z");
  EXPECT_EQ(byName["x-amz-content-sha256"], kEmpty);
  EXPECT_NE(byName["Authorization"].find(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"),
            std::string::npos);
  // The secret itself never travels.
  for (const auto& [name, value] : headers) EXPECT_EQ(value.find(key.secret), std::string::npos);
}

TEST(SigV4Test, UriEncodingIsStrictRfc3986) {
  EXPECT_EQ(uriEncode("a b+c%d=e", false), "a%20b%2Bc%25d%3De");
  EXPECT_EQ(uriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(uriEncode("a/b", true), "a/b");
  EXPECT_EQ(uriEncode("-._~AZaz09", false), "-._~AZaz09");
  EXPECT_EQ(uriEncode("\xc3\xbc", false), "%C3%BC");  // ü as UTF-8 bytes, upper-case hex
  EXPECT_EQ(uriEncode("!*'();:@&$,?#[]", false), "%21%2A%27%28%29%3B%3A%40%26%24%2C%3F%23%5B%5D");
  EXPECT_EQ(uriEncode(std::string("\x00\x7f\xff", 3), false), "%00%7F%FF");
}

TEST(SigV4Test, PathsAreEncodedPerSegmentWithoutNormalising) {
  EXPECT_EQ(canonicalPath(""), "/");
  EXPECT_EQ(canonicalPath("/bucket/dir/a b+c%d=e"), "/bucket/dir/a%20b%2Bc%25d%3De");
  // S3 keeps what the generic suite would normalise away.
  EXPECT_EQ(canonicalPath("/b/a/./c"), "/b/a/./c");
  EXPECT_EQ(canonicalPath("/b/a//c"), "/b/a//c");
  // Encoded once: a literal "%20" in a key is "%2520", not a space.
  EXPECT_EQ(canonicalPath("/b/%20"), "/b/%2520");
}

TEST(SigV4Test, QueryIsSortedAfterEncoding) {
  EXPECT_EQ(canonicalQuery({{"prefix", "dir/a b"}, {"list-type", "2"}, {"delimiter", "/"}}),
            "delimiter=%2F&list-type=2&prefix=dir%2Fa%20b");
  EXPECT_EQ(canonicalQuery({{"b", "2"}, {"a", "2"}, {"a", "1"}}), "a=1&a=2&b=2");
  EXPECT_EQ(canonicalQuery({{"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="}}),
            "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D");
  EXPECT_EQ(canonicalQuery({}), "");
}

TEST(SigV4Test, DecodeInvertsEncode) {
  const std::string s = "a b+c%d=e/\xc3\xbc~";
  EXPECT_EQ(uriDecode(uriEncode(s, false)), s);
  EXPECT_EQ(uriDecode("%zz%4"), "%zz%4");  // malformed escapes stay
  EXPECT_EQ(uriDecode("%c3%BC"), "\xc3\xbc");
}

TEST(SigV4Test, AmzDate) {
  EXPECT_EQ(amzDate(std::chrono::system_clock::from_time_t(1440938160)), "20150830T123600Z");
}

}  // namespace
}  // namespace epochfs::origin::s3
