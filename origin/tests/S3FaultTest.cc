// origin/tests/S3FaultTest.cc: S3Origin over a fake S3 server on loopback: the Origin contract,
// the S3 mapping rules (directory markers, file-vs-prefix, pagination), HTTP-level faults
// (503 SlowDown, dropped connections, stalls) within and beyond the retry budget, connection
// reuse and concurrency, and the mount-time probe's messages. The same contract against a
// real Ceph RGW is in S3RgwTest.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "config/Options.h"
#include "origin/s3/S3Origin.h"
#include "origin/testing/MemoryOrigin.h"
#include "origin/tests/OriginContract.h"
#include "origin/tests/S3FakeServer.h"
#include "origin/tests/S3TestOptions.h"

namespace epochfs::origin::s3 {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kKeyId = "AKIDFAKE0001";
constexpr const char* kSecret = "fAkE/SeCrEt+kEy=0123456789";

std::unique_ptr<S3Origin> originFor(const config::S3Options& opts, const std::string& bucket,
                                    const std::string& prefix = "") {
  auto client = std::make_unique<S3Client>(S3ClientOptions::from(opts, bucket), bucket,
                                           AccessKey{kKeyId, kSecret, ""});
  return std::make_unique<S3Origin>(std::move(client), prefix);
}

std::string readAll(Origin& o, const std::string& key, const std::string& etag,
                    uint64_t offset = 0, size_t len = 1 << 20) {
  std::vector<std::byte> buf(len);
  Result<size_t> n = o.read(key, etag, offset, buf);
  EXPECT_TRUE(n.isOk()) << key << ": " << n.status().toString();
  if (!n.isOk()) return "";
  return std::string(reinterpret_cast<const char*>(buf.data()), *n);
}

std::vector<std::string> namesOf(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) {
    names.push_back(e.name + (e.info.type == EntryType::kDirectory ? "/" : ""));
  }
  return names;
}

std::vector<std::string> keysOf(const std::vector<TreeEntry>& entries) {
  std::vector<std::string> keys;
  for (const TreeEntry& e : entries) {
    keys.push_back(e.key + (e.info.type == EntryType::kDirectory ? "/" : ""));
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// The contract, against a fake bucket that pages every 2 keys.

class FakeS3Env final : public OriginEnv {
 public:
  explicit FakeS3Env(const OriginFiles& files)
      : bucket_("data"), server_([this](const FakeRequest& r) { return bucket_.handle(r); }) {
    for (const auto& [key, bytes] : files) bucket_.put("pre/fix/" + key, bytes);
    bucket_.put("pre/fixed-neighbour", "not ours");  // shares the prefix's bytes, not its dir
    origin_ = originFor(fastOptions(server_.endpoint()), "data", "pre/fix");
  }
  Origin& origin() override { return *origin_; }
  void rewrite(const std::string& key, const std::string& bytes) override {
    bucket_.put("pre/fix/" + key, bytes);
  }

 private:
  FakeBucket bucket_;
  S3FakeServer server_;
  std::unique_ptr<S3Origin> origin_;
};

INSTANTIATE_TEST_SUITE_P(S3Fake, OriginContractTest,
                         ::testing::Values(OriginImpl{
                             "S3Fake",
                             [](const OriginFiles& files) -> std::unique_ptr<OriginEnv> {
                               return std::make_unique<FakeS3Env>(files);
                             }}),
                         originImplName);

// ---------------------------------------------------------------------------------------------
// S3's own shapes of a tree.

class S3SemanticsTest : public ::testing::Test {
 protected:
  S3SemanticsTest() : server_([this](const FakeRequest& r) { return bucket_.handle(r); }) {}
  std::unique_ptr<S3Origin> origin(const std::string& prefix = "") {
    return originFor(fastOptions(server_.endpoint()), "data", prefix);
  }
  FakeBucket bucket_{"data"};
  S3FakeServer server_;
};

TEST_F(S3SemanticsTest, DirectoryMarkersMakeDirectoriesAndAreNeverFiles) {
  bucket_.put("empty/", "");
  bucket_.put("full/", "");
  bucket_.put("full/x", "x");
  auto o = origin();
  Result<ObjectInfo> empty = o->stat("empty");
  ASSERT_TRUE(empty.isOk()) << empty.status().toString();
  EXPECT_EQ(empty->type, EntryType::kDirectory);
  Result<std::vector<DirEntry>> root = o->list("");
  ASSERT_TRUE(root.isOk());
  EXPECT_EQ(namesOf(*root), (std::vector<std::string>{"empty/", "full/"}));
  Result<std::vector<DirEntry>> inEmpty = o->list("empty");
  ASSERT_TRUE(inEmpty.isOk()) << inEmpty.status().toString();
  EXPECT_TRUE(inEmpty->empty());
  Result<std::vector<DirEntry>> inFull = o->list("full");
  ASSERT_TRUE(inFull.isOk());
  EXPECT_EQ(namesOf(*inFull), std::vector<std::string>{"x"});
  Result<std::vector<TreeEntry>> tree = o->listRecursive("");
  ASSERT_TRUE(tree.isOk());
  EXPECT_EQ(keysOf(*tree), (std::vector<std::string>{"empty/", "full/", "full/x"}));
}

TEST_F(S3SemanticsTest, WhenAKeyIsBothAFileAndAPrefixTheDirectoryWins) {
  bucket_.put("a", "the file");
  bucket_.put("a/b", "below");
  bucket_.put("c", "plain");
  auto o = origin();
  Result<ObjectInfo> a = o->stat("a");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->type, EntryType::kDirectory);
  Result<std::vector<DirEntry>> root = o->list("");
  ASSERT_TRUE(root.isOk());
  EXPECT_EQ(namesOf(*root), (std::vector<std::string>{"a/", "c"}));
  Result<std::vector<TreeEntry>> tree = o->listRecursive("");
  ASSERT_TRUE(tree.isOk());
  EXPECT_EQ(keysOf(*tree), (std::vector<std::string>{"a/", "a/b", "c"}));
  std::vector<std::byte> buf(10);
  Result<size_t> r = o->read("a", "", 0, buf);  // hidden: no etag to read it by
  EXPECT_FALSE(r.isOk());
}

TEST_F(S3SemanticsTest, KeysThatAreNotValidOriginKeysAreHidden) {
  bucket_.put("x//y", "1");
  bucket_.put("./z", "2");
  bucket_.put("q/../r", "3");
  bucket_.put("ok", "4");
  auto o = origin();
  Result<std::vector<DirEntry>> root = o->list("");
  ASSERT_TRUE(root.isOk());
  EXPECT_EQ(namesOf(*root), (std::vector<std::string>{"ok", "q/", "x/"}));
  Result<std::vector<DirEntry>> x = o->list("x");
  ASSERT_TRUE(x.isOk()) << x.status().toString();
  EXPECT_TRUE(x->empty());
  Result<std::vector<TreeEntry>> tree = o->listRecursive("");
  ASSERT_TRUE(tree.isOk());
  EXPECT_EQ(keysOf(*tree), (std::vector<std::string>{"ok", "q/", "x/"}));
}

TEST_F(S3SemanticsTest, ListingsPageThroughContinuationTokens) {
  for (int i = 0; i < 9; ++i) bucket_.put("d/f" + std::to_string(i), std::string(i, 'x'));
  for (int i = 0; i < 3; ++i) bucket_.put("d/s" + std::to_string(i) + "/y", "y");
  auto o = origin();
  int before = bucket_.count("LIST");
  Result<std::vector<DirEntry>> d = o->list("d");
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->size(), 12u);
  EXPECT_EQ(bucket_.count("LIST") - before, 6);  // 12 entries, 2 a page
  EXPECT_EQ((*d)[5].info.size, 5u);

  before = bucket_.count("LIST");
  Result<std::vector<TreeEntry>> tree = o->listRecursive("d");
  ASSERT_TRUE(tree.isOk());
  EXPECT_EQ(tree->size(), 15u);  // 9 + 3 files below s*, + 3 directories
  EXPECT_EQ(bucket_.count("LIST") - before, 6);  // 12 objects, 2 a page
  EXPECT_EQ((*tree)[0].key, "d/f0");
}

TEST_F(S3SemanticsTest, ListRecursiveMatchesTheGenericWalk) {
  MemoryOrigin memory;
  for (const std::string key : {"a.txt", "dir/b", "dir/sub/c", "dir+/q", "dir.x/y", "z"}) {
    memory.put(key, key);
    bucket_.put(key, key);
  }
  auto o = origin();
  Result<std::vector<TreeEntry>> s3 = o->listRecursive("");
  Result<std::vector<TreeEntry>> generic = memory.listRecursive("");
  ASSERT_TRUE(s3.isOk());
  ASSERT_TRUE(generic.isOk());
  EXPECT_EQ(keysOf(*s3), keysOf(*generic));
  EXPECT_EQ(keysOf(*s3), (std::vector<std::string>{"a.txt", "dir/", "dir+/", "dir+/q", "dir.x/",
                                                   "dir.x/y", "dir/b", "dir/sub/", "dir/sub/c",
                                                   "z"}));
  Result<std::vector<TreeEntry>> sub = o->listRecursive("dir");
  ASSERT_TRUE(sub.isOk());
  EXPECT_EQ(keysOf(*sub), (std::vector<std::string>{"dir/b", "dir/sub/", "dir/sub/c"}));
  EXPECT_EQ(o->listRecursive("a.txt").status().code(), Code::kNotDirectory);
  EXPECT_EQ(o->listRecursive("nope").status().code(), Code::kNotFound);
}

TEST_F(S3SemanticsTest, APrefixIsADirectoryNotAStringPrefix) {
  bucket_.put("train/a", "a");
  bucket_.put("training/b", "b");
  bucket_.put("train.txt", "c");
  auto o = origin("train");
  Result<std::vector<TreeEntry>> tree = o->listRecursive("");
  ASSERT_TRUE(tree.isOk());
  EXPECT_EQ(keysOf(*tree), std::vector<std::string>{"a"});
  EXPECT_EQ(readAll(*o, "a", o->stat("a")->etag), "a");
  EXPECT_EQ(o->describe(), "s3://data/train (" + server_.endpoint() + ", region us-east-1)");
}

TEST_F(S3SemanticsTest, StatOfAFileCostsOneListAndOneHead) {
  bucket_.put("f", "bytes");
  auto o = origin();
  Result<ObjectInfo> f = o->stat("f");
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(f->size, 5u);
  EXPECT_EQ(f->etag, "\"v1\"");
  EXPECT_EQ(f->mtimeNs, int64_t{1255369800} * 1'000'000'000);
  EXPECT_EQ(bucket_.count("LIST"), 1);
  EXPECT_EQ(bucket_.count("HEAD"), 1);
}

// ---------------------------------------------------------------------------------------------
// Faults: a fake bucket behind a switch that fails the next N object requests.

enum class Fault { kSlowDown, kInternalError, kDrop, kStall };

class S3FaultTest : public ::testing::Test {
 protected:
  S3FaultTest()
      : server_([this](const FakeRequest& r) {
          bool objectGet = r.method == "GET" && r.query.empty();
          if (objectGet && faultsLeft_.fetch_sub(1) > 0) {
            switch (fault_) {
              case Fault::kSlowDown:
                return s3ErrorResponse(503, "SlowDown", "Please reduce your request rate.");
              case Fault::kInternalError:
                return s3ErrorResponse(500, "InternalError", "We encountered an internal error.");
              case Fault::kDrop: {
                FakeResponse d;
                d.drop = true;
                return d;
              }
              case Fault::kStall: {
                FakeResponse s = bucket_.handle(r);
                s.stall = milliseconds(3000);
                return s;
              }
            }
          }
          return bucket_.handle(r);
        }) {
    bucket_.put("obj", kBytes);
  }

  void inject(Fault f, int n) {
    fault_ = f;
    faultsLeft_ = n;
  }
  int gets() { return bucket_.count("GET"); }

  static constexpr const char* kBytes = "0123456789abcdefghij";
  FakeBucket bucket_{"data"};
  std::atomic<Fault> fault_{Fault::kSlowDown};
  std::atomic<int> faultsLeft_{0};
  S3FakeServer server_;
};

TEST_F(S3FaultTest, SlowDownWithinTheBudgetSucceeds) {
  auto o = originFor(fastOptions(server_.endpoint()), "data");
  inject(Fault::kSlowDown, 3);
  EXPECT_EQ(readAll(*o, "obj", "\"v1\"", 2, 5), "23456");
  EXPECT_EQ(o->client().retries(), 3u);
  EXPECT_EQ(server_.requests(), 4);
}

TEST_F(S3FaultTest, InternalErrorsAndDroppedConnectionsWithinTheBudgetSucceed) {
  auto o = originFor(fastOptions(server_.endpoint()), "data");
  inject(Fault::kInternalError, 2);
  EXPECT_EQ(readAll(*o, "obj", "\"v1\""), kBytes);
  inject(Fault::kDrop, 3);
  EXPECT_EQ(readAll(*o, "obj", "\"v1\""), kBytes);
  // libcurl itself retries once, on a fresh connection, a reused one that died before
  // answering; so the three drops cost us 2 or 3 retries.
  EXPECT_GE(o->client().retries(), 4u);
}

TEST_F(S3FaultTest, BeyondTheAttemptsIsUnavailableQuicklyAndNamesTheCause) {
  auto o = originFor(fastOptions(server_.endpoint()), "data");
  inject(Fault::kSlowDown, 1000);
  std::vector<std::byte> buf(10);
  auto start = Clock::now();
  Result<size_t> r = o->read("obj", "\"v1\"", 0, buf);
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(server_.requests(), 4);  // s3.retry_max_attempts
  EXPECT_LT(took, milliseconds(2000));
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find(server_.endpoint()), std::string::npos) << msg;
  EXPECT_NE(msg.find("503 SlowDown"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4 attempts"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kSecret), std::string::npos) << msg;

  inject(Fault::kDrop, 1000);
  r = o->read("obj", "\"v1\"", 0, buf);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("connection reset or closed"), std::string::npos)
      << r.status().message();
}

TEST_F(S3FaultTest, TheTimeBudgetBoundsManyAttempts) {
  config::S3Options opts = fastOptions(server_.endpoint());
  opts.retry.maxAttempts = 100;
  opts.retry.baseDelaySec = 0.05;
  opts.retry.maxDelaySec = 0.05;
  opts.retry.budgetSec = 0.5;
  auto o = originFor(opts, "data");
  inject(Fault::kSlowDown, 100000);
  std::vector<std::byte> buf(10);
  auto start = Clock::now();
  Result<size_t> r = o->read("obj", "\"v1\"", 0, buf);
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_GE(took, milliseconds(450));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_LT(server_.requests(), 100);
}

TEST_F(S3FaultTest, AStalledResponseTimesOutAndIsRetried) {
  auto o = originFor(fastOptions(server_.endpoint()), "data");  // low_speed_time 1 s
  inject(Fault::kStall, 1);
  auto start = Clock::now();
  EXPECT_EQ(readAll(*o, "obj", "\"v1\""), kBytes);
  EXPECT_LT(Clock::now() - start, milliseconds(2900));  // not the stall's 3 s
  EXPECT_EQ(o->client().retries(), 1u);
}

TEST_F(S3FaultTest, AnswersAreNotRetried) {
  auto o = originFor(fastOptions(server_.endpoint()), "data");
  std::vector<std::byte> buf(10);
  Result<size_t> stale = o->read("obj", "\"v0\"", 0, buf);  // 412
  EXPECT_EQ(stale.status().code(), Code::kStale);
  EXPECT_EQ(gets(), 1);
  Result<size_t> eof = o->read("obj", "\"v1\"", 100, buf);  // 416
  ASSERT_TRUE(eof.isOk());
  EXPECT_EQ(*eof, 0u);
  EXPECT_EQ(gets(), 2);
  Result<size_t> missing = o->read("nope", "\"v1\"", 0, buf);  // 404 (+ a LIST for "is it a dir")
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(gets(), 3);
  EXPECT_EQ(o->client().retries(), 0u);
}

TEST_F(S3FaultTest, ForbiddenIsPermissionDeniedAndNotRetried) {
  S3FakeServer deny([](const FakeRequest&) {
    return s3ErrorResponse(403, "AccessDenied", "Access Denied");
  });
  auto o = originFor(fastOptions(deny.endpoint()), "data");
  std::vector<std::byte> buf(10);
  Result<size_t> r = o->read("obj", "\"v1\"", 0, buf);
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(deny.requests(), 1);
}

TEST_F(S3FaultTest, ConnectionsAreReused) {
  auto o = originFor(fastOptions(server_.endpoint()), "data");
  for (int i = 0; i < 50; ++i) ASSERT_EQ(readAll(*o, "obj", "\"v1\"", i % 20, 1), std::string(1, kBytes[i % 20]));
  EXPECT_EQ(server_.connections(), 1);
  EXPECT_EQ(o->client().http().connectionsOpened(), 1u);
}

TEST_F(S3FaultTest, ManyRequestsInFlightUpToMaxConnections) {
  config::S3Options opts = fastOptions(server_.endpoint());
  opts.maxConnections = 4;
  auto o = originFor(opts, "data");
  inject(Fault::kStall, 0);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::vector<std::byte> buf(3);
        Result<size_t> n = o->read("obj", "\"v1\"", static_cast<uint64_t>((t + i) % 18), buf);
        if (!n.isOk() || *n != 3 ||
            std::memcmp(buf.data(), kBytes + (t + i) % 18, 3) != 0) {
          ++bad;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(server_.maxInFlight(), 4);
  EXPECT_LE(server_.connections(), 4);
}

TEST_F(S3FaultTest, ChangedObjectIsStaleEvenIfTheServerIgnoresIfMatch) {
  S3FakeServer careless([this](const FakeRequest& r) {
    FakeRequest noCondition = r;
    noCondition.headers.erase("if-match");
    return bucket_.handle(noCondition);
  });
  auto o = originFor(fastOptions(careless.endpoint()), "data");
  std::vector<std::byte> buf(10);
  Result<size_t> r = o->read("obj", "\"v0\"", 0, buf);
  EXPECT_EQ(r.status().code(), Code::kStale) << r.status().toString();
}

TEST_F(S3FaultTest, AServerThatIgnoresRangeIsCutToTheRange) {
  S3FakeServer careless([this](const FakeRequest& r) {
    FakeRequest noRange = r;
    noRange.headers.erase("range");
    return bucket_.handle(noRange);
  });
  auto o = originFor(fastOptions(careless.endpoint()), "data");
  EXPECT_EQ(readAll(*o, "obj", "\"v1\"", 5, 4), "5678");
  EXPECT_EQ(readAll(*o, "obj", "\"v1\"", 18, 10), "ij");
}

// ---------------------------------------------------------------------------------------------
// The mount-time probe.

Status probeAt(const std::string& endpoint, const std::string& bucket = "data") {
  auto o = originFor(fastOptions(endpoint), bucket);
  return o->probe("test credentials");
}

void expectNoSecret(const Status& s) {
  EXPECT_EQ(s.message().find(kSecret), std::string::npos) << s.message();
}

TEST(S3ProbeTest, OkOnAnExistingBucket) {
  FakeBucket bucket("data");
  S3FakeServer server([&](const FakeRequest& r) { return bucket.handle(r); });
  EXPECT_TRUE(probeAt(server.endpoint()).isOk());
}

TEST(S3ProbeTest, MissingBucketIsNamed) {
  FakeBucket bucket("data");
  S3FakeServer server([&](const FakeRequest& r) { return bucket.handle(r); });
  Status s = probeAt(server.endpoint(), "nope");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "bucket 'nope' does not exist at " + server.endpoint() + " (NoSuchBucket)");
}

TEST(S3ProbeTest, UnknownAccessKeyIsNamedButNotTheSecret) {
  S3FakeServer server([](const FakeRequest&) {
    return s3ErrorResponse(403, "InvalidAccessKeyId",
                           "The AWS Access Key Id you provided does not exist in our records.");
  });
  Status s = probeAt(server.endpoint());
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_NE(s.message().find(kKeyId), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("InvalidAccessKeyId"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("test credentials"), std::string::npos) << s.message();
  expectNoSecret(s);
  EXPECT_EQ(server.requests(), 1);
}

TEST(S3ProbeTest, WrongSecretSaysSo) {
  S3FakeServer server([](const FakeRequest&) {
    return s3ErrorResponse(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.");
  });
  Status s = probeAt(server.endpoint());
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_NE(s.message().find("secret access key is wrong"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(kKeyId), std::string::npos) << s.message();
  expectNoSecret(s);
}

TEST(S3ProbeTest, WrongRegionNamesTheRightOne) {
  S3FakeServer server([](const FakeRequest&) {
    FakeResponse r = s3ErrorResponse(400, "AuthorizationHeaderMalformed", "wrong region");
    r.body.insert(r.body.find("</Error>"), "<Region>eu-west-1</Region>");
    return r;
  });
  Status s = probeAt(server.endpoint());
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_NE(s.message().find("'eu-west-1'"), std::string::npos) << s.message();
}

TEST(S3ProbeTest, RefusedConnectionNamesTheEndpointWithinSeconds) {
  int port;
  {
    S3FakeServer closed([](const FakeRequest&) { return FakeResponse{}; });
    port = closed.port();
  }  // now nothing listens there
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
  auto start = Clock::now();
  Status s = probeAt(endpoint);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("cannot reach S3 endpoint " + endpoint), std::string::npos)
      << s.message();
  expectNoSecret(s);
}

TEST(S3ProbeTest, HttpsToAPlainHttpServerIsATlsFailureWithAHint) {
  // A server that answers every connection with plain text at once, as an HTTP server does
  // to a TLS ClientHello it cannot parse.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) continue;
      const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      (void)!::send(c, reply, sizeof reply - 1, MSG_NOSIGNAL);
      ::close(c);
    }
  });
  const std::string endpoint = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  Status s = probeAt(endpoint);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("cannot reach S3 endpoint " + endpoint + ": TLS failure"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("s3.ca_bundle"), std::string::npos) << s.message();
  stop = true;
  server.join();
  ::close(fd);
}

TEST(S3ProbeTest, AServerThatNeverAnswersFailsWithinTenSeconds) {
  S3FakeServer silent([](const FakeRequest&) {
    FakeResponse r;
    r.stall = milliseconds(60000);
    return r;
  });
  config::S3Options opts = fastOptions(silent.endpoint());
  opts.lowSpeedTimeSec = 30;  // so only the probe's own deadline can end it
  auto o = originFor(opts, "data");
  auto start = Clock::now();
  Status s = o->probe();
  auto took = Clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
}

TEST(S3ProbeTest, MakeOriginBuildsAWorkingS3Origin) {
  FakeBucket bucket("data");
  bucket.put("train/x.jpg", "jpeg");
  S3FakeServer server([&](const FakeRequest& r) { return bucket.handle(r); });
  config::OriginOptions opts;
  opts.source = "s3://data/train/";
  opts.s3 = fastOptions(server.endpoint());
  Result<std::unique_ptr<Origin>> o = makeS3Origin(
      opts, [](const std::string& name) -> std::optional<std::string> {
        if (name == "AWS_ACCESS_KEY_ID") return kKeyId;
        if (name == "AWS_SECRET_ACCESS_KEY") return kSecret;
        return std::nullopt;
      });
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ(readAll(**o, "x.jpg", (*o)->stat("x.jpg")->etag), "jpeg");
  EXPECT_EQ((*o)->describe().find(kSecret), std::string::npos);
  EXPECT_EQ((*o)->describe().find(kKeyId), std::string::npos);
}

TEST(S3ProbeTest, MakeOriginWithoutCredentialsSaysWhereItLooked) {
  config::OriginOptions opts;
  opts.source = "s3://data";
  opts.s3.endpoint = "http://127.0.0.1:9";
  Result<std::unique_ptr<Origin>> o =
      makeS3Origin(opts, [](const std::string& name) -> std::optional<std::string> {
        if (name == "HOME") return "/nonexistent";
        return std::nullopt;
      });
  ASSERT_FALSE(o.isOk());
  EXPECT_EQ(o.status().code(), Code::kInvalid);
  EXPECT_NE(o.status().message().find("no S3 credentials"), std::string::npos);
}

TEST(S3SourceTest, ParsesBucketAndPrefix) {
  EXPECT_EQ(parseS3Source("s3://b")->bucket, "b");
  EXPECT_EQ(parseS3Source("s3://b")->prefix, "");
  EXPECT_EQ(parseS3Source("s3://b/")->prefix, "");
  EXPECT_EQ(parseS3Source("s3://b/a/b c/")->prefix, "a/b c");
  EXPECT_EQ(parseS3Source("s3://").status().code(), Code::kInvalid);
  EXPECT_EQ(parseS3Source("s3:///x").status().code(), Code::kInvalid);
  EXPECT_EQ(parseS3Source("s3://b/a//c").status().code(), Code::kInvalid);
  EXPECT_EQ(parseS3Source("s3://b/../c").status().code(), Code::kInvalid);
}

TEST(S3SourceTest, AddressingStyles) {
  config::S3Options o;
  AccessKey key{kKeyId, kSecret, ""};
  // AWS: virtual-hosted, unless the bucket has a dot.
  S3Client aws(S3ClientOptions::from(o, "data"), "data", key);
  EXPECT_EQ(aws.urlFor("a b/c+d"), "https://data.s3.us-east-1.amazonaws.com/a%20b/c%2Bd");
  EXPECT_EQ(aws.endpoint(), "https://s3.us-east-1.amazonaws.com");
  S3Client dotted(S3ClientOptions::from(o, "my.data"), "my.data", key);
  EXPECT_EQ(dotted.urlFor("k"), "https://s3.us-east-1.amazonaws.com/my.data/k");
  // An endpoint: path style, default port dropped.
  o.endpoint = "http://127.0.0.1:80/";
  S3Client rgw(S3ClientOptions::from(o, "data"), "data", key);
  EXPECT_EQ(rgw.urlFor("k", "x=1"), "http://127.0.0.1/data/k?x=1");
  EXPECT_EQ(rgw.urlFor(""), "http://127.0.0.1/data");
  o.endpoint = "https://minio.local:9000";
  o.addressing = "virtual";
  S3Client vhost(S3ClientOptions::from(o, "data"), "data", key);
  EXPECT_EQ(vhost.urlFor(""), "https://data.minio.local:9000/");
}

}  // namespace
}  // namespace epochfs::origin::s3
