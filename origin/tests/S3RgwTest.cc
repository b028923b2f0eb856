// origin/tests/S3RgwTest.cc: S3Origin against a real Ceph RADOS Gateway on loopback.
//
// The binary starts one RGW with test/rgw/rgw.sh (or $EPOCHFS_RGW_SCRIPT) for all its tests
// (a global environment) and stops it at the end, also when tests fail and on SIGINT,
// SIGTERM, SIGABRT and SIGSEGV. When the gateway cannot be started (script missing, Ceph not
// installable), the tests are skipped with a loud message, or FAIL when EPOCHFS_REQUIRE_RGW=1
// (for CI). Objects are uploaded with S3Client's own signed PUT, so RGW checks our signer on
// every upload too.
//
// What runs here: the Origin contract (OriginContract.h), S3 shapes that only a real server
// can vouch for (directory markers, a key that is both a file and a prefix, listings over
// 1000 keys), the mount-time probe's messages for a wrong secret, an unknown key id and a
// missing bucket, and a throughput measurement (printed, not asserted).
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/Options.h"
#include "origin/s3/S3Origin.h"
#include "origin/tests/OriginContract.h"

namespace epochfs::origin::s3 {
namespace {

using Clock = std::chrono::steady_clock;

struct Rgw {
  bool up = false;
  std::string failure;  // why it is not up
  std::string endpoint;
  std::string region;
  std::string keyId;
  std::string secret;
};

Rgw& rgw() {
  static Rgw r;
  return r;
}

bool rgwRequired() {
  const char* v = std::getenv("EPOCHFS_REQUIRE_RGW");
  return v != nullptr && std::string(v) == "1";
}

std::string gStopCommand;  // run from signal handlers too: prepared in advance

void stopFromSignal(int sig) {
  if (!gStopCommand.empty()) {
    (void)!std::system(gStopCommand.c_str());
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

class RgwEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    start();
    announce();
  }

  void start() {
    // EPOCHFS_RGW_SCRIPT overrides the script (to check the no-gateway paths, say).
    const char* override = std::getenv("EPOCHFS_RGW_SCRIPT");
    const std::string script = override != nullptr && *override != '\0'
                                   ? std::string(override)
                                   : std::string(EPOCHFS_SOURCE_DIR) + "/test/rgw/rgw.sh";
    if (::access(script.c_str(), R_OK) != 0) {
      rgw().failure = script + " is missing";
      return;
    }
    char tmpl[] = "/tmp/epochfs-rgw-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      rgw().failure = "mkdtemp failed";
      return;
    }
    parent_ = tmpl;
    dir_ = parent_ + "/rgw";
    gStopCommand = "bash " + shellQuote(script) + " stop " + shellQuote(dir_) + " >/dev/null 2>&1";
    for (int sig : {SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS}) ::signal(sig, stopFromSignal);

    const auto start = Clock::now();
    const std::string cmd = "bash " + shellQuote(script) + " start " + shellQuote(dir_) +
                            " --timeout 180 >" + shellQuote(parent_ + "/start.out") + " 2>" +
                            shellQuote(parent_ + "/start.err");
    int rc = std::system(cmd.c_str());
    if (rc != 0) {
      std::ifstream err(parent_ + "/start.err");
      std::stringstream ss;
      ss << err.rdbuf();
      std::string text = ss.str();
      if (text.size() > 3000) text = "..." + text.substr(text.size() - 3000);
      rgw().failure = "'rgw.sh start' failed (exit " + std::to_string(rc) + "):\n" + text;
      return;
    }
    std::ifstream in(dir_ + "/env.json");
    nlohmann::json env = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (env.is_discarded() || !env.contains("EPOCHFS_S3_ENDPOINT")) {
      rgw().failure = "cannot read " + dir_ + "/env.json";
      return;
    }
    Rgw& r = rgw();
    r.endpoint = env["EPOCHFS_S3_ENDPOINT"].get<std::string>();
    r.region = env.value("EPOCHFS_S3_REGION", "us-east-1");
    r.keyId = env["AWS_ACCESS_KEY_ID"].get<std::string>();
    r.secret = env["AWS_SECRET_ACCESS_KEY"].get<std::string>();
    r.up = true;
    std::printf("[ rgw      ] %s up in %.1f s\n", r.endpoint.c_str(),
                std::chrono::duration<double>(Clock::now() - start).count());
  }

  // Called once the environment is set up, whatever happened.
  static void announce() {
    if (rgw().up) return;
    std::fprintf(stderr,
                 "\n*** NO RGW: every S3 test of this binary is %s. Cause: %s\n\n",
                 rgwRequired() ? "FAILED (EPOCHFS_REQUIRE_RGW=1)" : "SKIPPED",
                 rgw().failure.c_str());
  }

  void TearDown() override {
    if (!gStopCommand.empty()) {
      int rc = std::system(gStopCommand.c_str());
      if (rc != 0) std::fprintf(stderr, "rgw.sh stop %s failed (exit %d)\n", dir_.c_str(), rc);
    }
    gStopCommand.clear();
    if (!parent_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(parent_, ec);
    }
  }

 private:
  std::string parent_;
  std::string dir_;
};

// In each test: skip (loudly) or fail when there is no gateway.
#define REQUIRE_RGW()                                                                     \
  do {                                                                                    \
    if (!rgw().up) {                                                                      \
      if (rgwRequired()) {                                                                \
        FAIL() << "EPOCHFS_REQUIRE_RGW=1 but no RGW: " << rgw().failure;                  \
      }                                                                                   \
      GTEST_SKIP() << "NO RGW, S3 TESTS NOT RUN: " << rgw().failure;                      \
    }                                                                                     \
  } while (0)

config::S3Options rgwOptions() {
  config::S3Options o;
  o.endpoint = rgw().endpoint;
  o.region = rgw().region;
  return o;
}

std::unique_ptr<S3Client> clientFor(const std::string& bucket, const config::S3Options& o = rgwOptions()) {
  return std::make_unique<S3Client>(S3ClientOptions::from(o, bucket), bucket,
                                    AccessKey{rgw().keyId, rgw().secret, ""});
}

Status makeBucket(const std::string& bucket) {
  auto c = clientFor(bucket);
  S3Request req;
  req.method = "PUT";
  Result<S3Response> r = c->send(req);
  if (!r.isOk()) return r.status();
  if (r->status != 200 && r->error.code != "BucketAlreadyOwnedByYou") {
    return ioError("create bucket " + bucket + ": HTTP " + std::to_string(r->status) + " " +
                   r->error.code);
  }
  return Status::ok();
}

Status putObject(S3Client& c, const std::string& key, const std::string& bytes) {
  S3Request req;
  req.method = "PUT";
  req.key = key;
  req.body = bytes;
  Result<S3Response> r = c.send(req);
  if (!r.isOk()) return r.status();
  if (r->status != 200) {
    return ioError("put " + key + ": HTTP " + std::to_string(r->status) + " " + r->error.code);
  }
  return Status::ok();
}

// One bucket for all contract tests; a fresh prefix for each, since a test may rewrite files.
constexpr const char* kContractBucket = "contract";

class RgwEnv final : public OriginEnv {
 public:
  explicit RgwEnv(const OriginFiles& files) {
    static std::atomic<int> counter{0};
    prefix_ = "t" + std::to_string(counter++);
    client_ = clientFor(kContractBucket);
    for (const auto& [key, bytes] : files) {
      Status s = putObject(*client_, prefix_ + "/" + key, bytes);
      EXPECT_TRUE(s.isOk()) << s.toString();
    }
    origin_ = std::make_unique<S3Origin>(clientFor(kContractBucket), prefix_);
  }
  Origin& origin() override { return *origin_; }
  void rewrite(const std::string& key, const std::string& bytes) override {
    Status s = putObject(*client_, prefix_ + "/" + key, bytes);
    ASSERT_TRUE(s.isOk()) << s.toString();
  }

 private:
  std::string prefix_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<S3Origin> origin_;
};

// Called from a fixture's SetUp (directly or through the contract's factory): a skip or a
// fatal failure there keeps the test body from running.
void skipOrFailWithoutRgw() {
  if (rgwRequired()) FAIL() << "EPOCHFS_REQUIRE_RGW=1 but no RGW: " << rgw().failure;
  GTEST_SKIP() << "NO RGW, S3 TESTS NOT RUN: " << rgw().failure;
}

INSTANTIATE_TEST_SUITE_P(S3Rgw, OriginContractTest,
                         ::testing::Values(OriginImpl{
                             "S3Rgw",
                             [](const OriginFiles& files) -> std::unique_ptr<OriginEnv> {
                               if (!rgw().up) {
                                 skipOrFailWithoutRgw();
                                 return nullptr;
                               }
                               static bool bucketMade = [] {
                                 Status s = makeBucket(kContractBucket);
                                 EXPECT_TRUE(s.isOk()) << s.toString();
                                 return s.isOk();
                               }();
                               (void)bucketMade;
                               return std::make_unique<RgwEnv>(files);
                             }}),
                         originImplName);

// ---------------------------------------------------------------------------------------------

std::vector<std::string> namesOf(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) {
    names.push_back(e.name + (e.info.type == EntryType::kDirectory ? "/" : ""));
  }
  return names;
}

class RgwTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_RGW();
    static std::atomic<int> counter{0};
    bucket_ = "shapes-" + std::to_string(counter++);
    Status s = makeBucket(bucket_);
    ASSERT_TRUE(s.isOk()) << s.toString();
    client_ = clientFor(bucket_);
  }
  void put(const std::string& key, const std::string& bytes) {
    Status s = putObject(*client_, key, bytes);
    ASSERT_TRUE(s.isOk()) << s.toString();
  }
  std::unique_ptr<S3Origin> origin(const std::string& prefix = "") {
    return std::make_unique<S3Origin>(clientFor(bucket_), prefix);
  }

  std::string bucket_;
  std::unique_ptr<S3Client> client_;
};

TEST_F(RgwTest, DirectoryMarkersAndFileVersusPrefix) {
  put("empty/", "");
  put("a", "the file");
  put("a/b", "below");
  put("c", "plain");
  auto o = origin();
  Result<std::vector<DirEntry>> root = o->list("");
  ASSERT_TRUE(root.isOk()) << root.status().toString();
  EXPECT_EQ(namesOf(*root), (std::vector<std::string>{"a/", "c", "empty/"}));
  Result<ObjectInfo> a = o->stat("a");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->type, EntryType::kDirectory);
  Result<std::vector<DirEntry>> empty = o->list("empty");
  ASSERT_TRUE(empty.isOk()) << empty.status().toString();
  EXPECT_TRUE(empty->empty());
  Result<std::vector<TreeEntry>> tree = o->listRecursive("");
  ASSERT_TRUE(tree.isOk());
  std::vector<std::string> keys;
  for (const TreeEntry& e : *tree) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "a/b", "c", "empty"}));
}

TEST_F(RgwTest, ListingsOfMoreThanOnePage) {
  constexpr int kFiles = 2345;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto c = clientFor(bucket_);
      for (int i = t; i < kFiles; i += 8) {
        char name[32];
        std::snprintf(name, sizeof name, "many/f%05d", i);
        if (!putObject(*c, name, std::to_string(i)).isOk()) ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failed.load(), 0);
  put("many/sub/x", "x");
  auto o = origin();
  Result<std::vector<DirEntry>> many = o->list("many");
  ASSERT_TRUE(many.isOk()) << many.status().toString();
  ASSERT_EQ(many->size(), size_t{kFiles} + 1);
  EXPECT_EQ(many->front().name, "f00000");
  EXPECT_EQ(many->back().name, "sub");
  EXPECT_EQ((*many)[1234].info.size, 4u);  // "1234"
  Result<std::vector<TreeEntry>> tree = o->listRecursive("");
  ASSERT_TRUE(tree.isOk()) << tree.status().toString();
  EXPECT_EQ(tree->size(), size_t{kFiles} + 3);  // + many/, many/sub/, many/sub/x
}

TEST_F(RgwTest, KeysThatNeedEncodingRoundTrip) {
  const std::vector<std::string> names = {"a b", "plus+sign", "pct%41", "eq=1&x=2", "t~il-de_.",
                                          "\xc3\xa9t\xc3\xa9", "semi;colon,comma", "quote'\"",
                                          "star*paren()", "hash#q?", "caret^back`tick"};
  for (const std::string& n : names) put("enc/" + n, n);
  auto o = origin("enc");
  Result<std::vector<DirEntry>> entries = o->list("");
  ASSERT_TRUE(entries.isOk()) << entries.status().toString();
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(namesOf(*entries), sorted);
  for (const std::string& n : names) {
    Result<ObjectInfo> info = o->stat(n);
    ASSERT_TRUE(info.isOk()) << n << ": " << info.status().toString();
    std::vector<std::byte> buf(64);
    Result<size_t> r = o->read(n, info->etag, 0, buf);
    ASSERT_TRUE(r.isOk()) << n << ": " << r.status().toString();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *r), n);
  }
}

// ---------------------------------------------------------------------------------------------
// Mount-time validation: what a person sees when `epochfs mount` fails.

GetEnv envWith(const std::string& id, const std::string& secret) {
  return [id, secret](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_ACCESS_KEY_ID") return id;
    if (name == "AWS_SECRET_ACCESS_KEY") return secret;
    return std::nullopt;
  };
}

Result<std::unique_ptr<Origin>> mountCheck(const std::string& source, const GetEnv& env,
                                           std::chrono::nanoseconds* took) {
  config::OriginOptions opts;
  opts.source = source;
  opts.s3 = rgwOptions();
  auto start = Clock::now();
  Result<std::unique_ptr<Origin>> o = makeS3Origin(opts, env);
  *took = Clock::now() - start;
  return o;
}

TEST(RgwProbeTest, GoodCredentialsAndBucket) {
  REQUIRE_RGW();
  ASSERT_TRUE(makeBucket("probe-ok").isOk());
  std::chrono::nanoseconds took;
  auto o = mountCheck("s3://probe-ok/some/prefix", envWith(rgw().keyId, rgw().secret), &took);
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ((*o)->describe().find(rgw().secret), std::string::npos);
}

TEST(RgwProbeTest, WrongSecretFailsFastAndSaysSo) {
  REQUIRE_RGW();
  ASSERT_TRUE(makeBucket("probe-secret").isOk());
  const std::string wrong = "WRONG" + rgw().secret.substr(5);
  std::chrono::nanoseconds took;
  auto o = mountCheck("s3://probe-secret", envWith(rgw().keyId, wrong), &took);
  ASSERT_FALSE(o.isOk());
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(o.status().code(), Code::kPermissionDenied);
  const std::string& msg = o.status().message();
  EXPECT_NE(msg.find("SignatureDoesNotMatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("secret access key is wrong"), std::string::npos) << msg;
  EXPECT_NE(msg.find(rgw().keyId), std::string::npos) << msg;
  EXPECT_EQ(msg.find(wrong), std::string::npos) << msg;
  EXPECT_EQ(msg.find(rgw().secret), std::string::npos) << msg;
}

TEST(RgwProbeTest, UnknownAccessKeyIsNamed) {
  REQUIRE_RGW();
  std::chrono::nanoseconds took;
  auto o = mountCheck("s3://contract", envWith("AKIDNOSUCHKEY0000000", rgw().secret), &took);
  ASSERT_FALSE(o.isOk());
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(o.status().code(), Code::kPermissionDenied);
  EXPECT_NE(o.status().message().find("AKIDNOSUCHKEY0000000"), std::string::npos)
      << o.status().message();
  EXPECT_NE(o.status().message().find("InvalidAccessKeyId"), std::string::npos)
      << o.status().message();
  EXPECT_EQ(o.status().message().find(rgw().secret), std::string::npos);
}

TEST(RgwProbeTest, MissingBucketIsNamed) {
  REQUIRE_RGW();
  std::chrono::nanoseconds took;
  auto o = mountCheck("s3://no-such-bucket-here/x", envWith(rgw().keyId, rgw().secret), &took);
  ASSERT_FALSE(o.isOk());
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(o.status().code(), Code::kNotFound);
  EXPECT_EQ(o.status().message(),
            "bucket 'no-such-bucket-here' does not exist at " + rgw().endpoint + " (NoSuchBucket)");
}

// ---------------------------------------------------------------------------------------------
// Throughput: one 64 MiB object read through S3Origin, whole and in 4 parallel quarters, and
// with curl for comparison. Reported, not asserted.

double mbps(size_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(d).count();
}

TEST(RgwThroughputTest, SixtyFourMiB) {
  REQUIRE_RGW();
  constexpr size_t kSize = 64 << 20;
  ASSERT_TRUE(makeBucket("throughput").isOk());
  std::string bytes(kSize, '\0');
  std::mt19937_64 rng(7);
  for (size_t i = 0; i + 8 <= kSize; i += 8) {
    uint64_t v = rng();
    std::memcpy(bytes.data() + i, &v, 8);
  }
  auto c = clientFor("throughput");
  ASSERT_TRUE(putObject(*c, "big.bin", bytes).isOk());
  S3Origin o(clientFor("throughput"), "");
  Result<ObjectInfo> info = o.stat("big.bin");
  ASSERT_TRUE(info.isOk());

  std::vector<std::byte> buf(kSize);
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    Result<size_t> n = o.read("big.bin", info->etag, 0, buf);
    auto took = Clock::now() - start;
    ASSERT_TRUE(n.isOk()) << n.status().toString();
    ASSERT_EQ(*n, kSize);
    best = std::max(best, mbps(kSize, took));
  }
  ASSERT_EQ(std::memcmp(buf.data(), bytes.data(), kSize), 0);

  double bestParallel = 0;
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int q = 0; q < 4; ++q) {
      threads.emplace_back([&, q] {
        std::span<std::byte> part(buf.data() + q * (kSize / 4), kSize / 4);
        Result<size_t> n = o.read("big.bin", info->etag, q * (kSize / 4), part);
        if (!n.isOk() || *n != kSize / 4) ++bad;
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_EQ(bad.load(), 0);
    bestParallel = std::max(bestParallel, mbps(kSize, Clock::now() - start));
  }
  ASSERT_EQ(std::memcmp(buf.data(), bytes.data(), kSize), 0);

  // curl, the same object, signed by curl itself.
  const std::string url = rgw().endpoint + "/throughput/big.bin";
  const std::string curl = "curl -sS -o /dev/null --aws-sigv4 " +
                           shellQuote("aws:amz:" + rgw().region + ":s3") + " --user " +
                           shellQuote(rgw().keyId + ":" + rgw().secret) +
                           " -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' ";
  double bestCurl = 0;
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    if (std::system((curl + shellQuote(url)).c_str()) != 0) break;
    bestCurl = std::max(bestCurl, mbps(kSize, Clock::now() - start));
  }
  double bestCurlParallel = 0;
  for (int i = 0; i < 3 && bestCurl > 0; ++i) {
    std::string cmd;
    for (int q = 0; q < 4; ++q) {
      size_t a = q * (kSize / 4), b = a + kSize / 4 - 1;
      cmd += curl + "-H " + shellQuote("Range: bytes=" + std::to_string(a) + "-" + std::to_string(b)) +
             " " + shellQuote(url) + " & ";
    }
    cmd += "wait";
    auto start = Clock::now();
    if (std::system(cmd.c_str()) != 0) break;
    bestCurlParallel = std::max(bestCurlParallel, mbps(kSize, Clock::now() - start));
  }
  std::printf("[ measure  ] 64 MiB GET from RGW, best of 3: S3Origin %.0f MiB/s, 4 parallel "
              "ranges %.0f MiB/s; curl %.0f MiB/s, 4 parallel curl ranges %.0f MiB/s\n",
              best, bestParallel, bestCurl, bestCurlParallel);
  RecordProperty("s3origin_MiBps", static_cast<int>(best));
  RecordProperty("s3origin_4x_MiBps", static_cast<int>(bestParallel));
  RecordProperty("curl_MiBps", static_cast<int>(bestCurl));
  RecordProperty("curl_4x_MiBps", static_cast<int>(bestCurlParallel));
}

}  // namespace
}  // namespace epochfs::origin::s3

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new epochfs::origin::s3::RgwEnvironment);
  return RUN_ALL_TESTS();
}
