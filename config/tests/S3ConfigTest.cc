// config/tests/S3ConfigTest.cc: the s3 section: loading, defaults, single-value checks with
// their line, and validate()'s checks across keys.
#include <string>

#include <gtest/gtest.h>

#include "config/ConfigLoader.h"

namespace epochfs::config {
namespace {

std::string loadError(const std::string& yaml) {
  MountOptions opts;
  const Status s = loadConfigText(yaml, "x.yaml", opts);
  EXPECT_FALSE(s.isOk()) << yaml;
  return s.message();
}

std::string validateError(MountOptions o) {
  const Status s = validate(o);
  EXPECT_FALSE(s.isOk());
  return s.message();
}

TEST(S3ConfigTest, Defaults) {
  const S3Options d;
  EXPECT_EQ(d.endpoint, "");
  EXPECT_EQ(d.region, "us-east-1");
  EXPECT_EQ(d.addressing, "auto");
  EXPECT_TRUE(d.verifyTls);
  EXPECT_EQ(d.caBundle, "");
  EXPECT_EQ(d.maxConnections, 32);
  EXPECT_DOUBLE_EQ(d.connectTimeoutSec, 5);
  EXPECT_DOUBLE_EQ(d.lowSpeedTimeSec, 15);
  EXPECT_EQ(d.lowSpeedLimitBytes, kKiB);
  EXPECT_EQ(d.retry.maxAttempts, 6);
  EXPECT_DOUBLE_EQ(d.retry.baseDelaySec, 0.1);
  EXPECT_DOUBLE_EQ(d.retry.maxDelaySec, 5);
  EXPECT_DOUBLE_EQ(d.retry.budgetSec, 30);
  MountOptions o;
  o.origin.source = "s3://bucket/train";
  EXPECT_TRUE(validate(o).isOk()) << validate(o).toString();
  EXPECT_EQ(o.origin.source, "s3://bucket/train");  // kept as written
}

TEST(S3ConfigTest, EveryKeyLoads) {
  MountOptions o;
  const Status s = loadConfigText(R"(
origin:
  source: s3://imagenet/train
s3:
  endpoint: http://127.0.0.1:7480
  region: eu-west-1
  addressing: virtual
  verify_tls: false
  ca_bundle: /etc/ssl/ca.pem
  credentials_file: /etc/epochfs/credentials
  profile: training
  access_key_env: MY_KEY_ID
  secret_key_env: MY_SECRET
  session_token_env: MY_TOKEN
  connect_timeout: 2.5
  low_speed_time: 20
  low_speed_limit: 10KiB
  max_connections: 64
  retry_max_attempts: 10
  retry_base_delay: 0.05
  retry_max_delay: 2
  retry_budget: 60
)",
                                  "x.yaml", o);
  ASSERT_TRUE(s.isOk()) << s.toString();
  const S3Options& s3 = o.origin.s3;
  EXPECT_EQ(s3.endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(s3.region, "eu-west-1");
  EXPECT_EQ(s3.addressing, "virtual");
  EXPECT_FALSE(s3.verifyTls);
  EXPECT_EQ(s3.caBundle, "/etc/ssl/ca.pem");
  EXPECT_EQ(s3.credentials.file, "/etc/epochfs/credentials");
  EXPECT_EQ(s3.credentials.profile, "training");
  EXPECT_EQ(s3.credentials.accessKeyEnv, "MY_KEY_ID");
  EXPECT_EQ(s3.credentials.secretKeyEnv, "MY_SECRET");
  EXPECT_EQ(s3.credentials.sessionTokenEnv, "MY_TOKEN");
  EXPECT_DOUBLE_EQ(s3.connectTimeoutSec, 2.5);
  EXPECT_DOUBLE_EQ(s3.lowSpeedTimeSec, 20);
  EXPECT_EQ(s3.lowSpeedLimitBytes, 10 * kKiB);
  EXPECT_EQ(s3.maxConnections, 64);
  EXPECT_EQ(s3.retry.maxAttempts, 10);
  EXPECT_DOUBLE_EQ(s3.retry.baseDelaySec, 0.05);
  EXPECT_DOUBLE_EQ(s3.retry.maxDelaySec, 2);
  EXPECT_DOUBLE_EQ(s3.retry.budgetSec, 60);
  EXPECT_TRUE(validate(o).isOk()) << validate(o).toString();
}

TEST(S3ConfigTest, BadValuesHaveALineAndAKey) {
  EXPECT_EQ(loadError("s3:\n  endpoint: 127.0.0.1:7480\n"),
            "x.yaml:2: s3.endpoint: '127.0.0.1:7480' is not an endpoint URL (use "
            "http://HOST[:PORT] or https://HOST[:PORT])");
  EXPECT_EQ(loadError("s3:\n  endpoint: http://h:1/bucket\n"),
            "x.yaml:2: s3.endpoint: 'http://h:1/bucket': only scheme://HOST[:PORT] is accepted "
            "(no path, query or user name)");
  EXPECT_EQ(loadError("s3:\n  region: US East\n"),
            "x.yaml:2: s3.region: 'US East' is not a region name (lower-case letters, digits and "
            "'-', e.g. us-east-1)");
  EXPECT_EQ(loadError("s3:\n  addressing: dns\n"),
            "x.yaml:2: s3.addressing: 'dns' is not an addressing style (use one of auto, path, "
            "virtual)");
  EXPECT_EQ(loadError("s3:\n  max_connections: 0\n"),
            "x.yaml:2: s3.max_connections: 0 is out of range (1..1024)");
  EXPECT_EQ(loadError("s3:\n  retry_max_attempts: 101\n"),
            "x.yaml:2: s3.retry_max_attempts: 101 is out of range (1..100)");
  EXPECT_EQ(loadError("s3:\n  connect_timeout: 0\n"),
            "x.yaml:2: s3.connect_timeout: 0 is not a number of seconds > 0");
  EXPECT_EQ(loadError("s3:\n  verify_tls: maybe\n"),
            "x.yaml:2: s3.verify_tls: 'maybe' is not a boolean (use true or false)");
  EXPECT_EQ(loadError("s3:\n  low_speed_limit: 0\n"),
            "x.yaml:2: s3.low_speed_limit: must be at least 1 byte (per second)");
  EXPECT_NE(loadError("s3:\n  regoin: x\n").find("did you mean 's3.region'?"), std::string::npos);
}

// Whoever writes a secret where a variable name belongs must not see it echoed back.
TEST(S3ConfigTest, AnEnvNameThatLooksLikeASecretIsNotQuoted) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  const std::string msg = loadError("s3:\n  secret_key_env: " + secret + "\n");
  EXPECT_NE(msg.find("x.yaml:2: s3.secret_key_env: not an environment variable name"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
  MountOptions o;
  o.origin.source = "s3://b";
  o.origin.s3.credentials.secretKeyEnv = secret;
  o.origin.s3.credentials.accessKeyEnv = "ID";
  EXPECT_EQ(validateError(o).find(secret), std::string::npos);
}

TEST(S3ConfigTest, ValidateChecksAcrossKeys) {
  MountOptions o;
  o.origin.source = "s3://b";
  o.origin.s3.credentials.accessKeyEnv = "ID";
  o.origin.s3.retry.baseDelaySec = 10;
  o.origin.s3.retry.maxDelaySec = 1;
  o.origin.s3.region = "";
  EXPECT_EQ(validateError(o),
            "s3.region: the region must not be empty (e.g. us-east-1)\n"
            "s3.access_key_env, s3.secret_key_env: set both or neither\n"
            "s3.retry_base_delay: larger than s3.retry_max_delay");
}

TEST(S3ConfigTest, SourceWithoutBucket) {
  MountOptions o;
  o.origin.source = "s3://";
  EXPECT_EQ(validateError(o), "origin.source: 's3://' names no bucket (use s3://BUCKET[/PREFIX])");
  o.origin.source = "s3:///x";
  EXPECT_NE(validateError(o).find("names no bucket"), std::string::npos);
}

TEST(S3ConfigTest, PathsBecomeAbsolute) {
  MountOptions o;
  o.origin.source = "s3://b";
  o.origin.s3.caBundle = "certs/ca.pem";
  o.origin.s3.credentials.file = "creds";
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_EQ(o.origin.s3.caBundle.front(), '/');
  EXPECT_TRUE(o.origin.s3.caBundle.ends_with("/certs/ca.pem"));
  EXPECT_TRUE(o.origin.s3.credentials.file.ends_with("/creds"));
}

TEST(S3ConfigTest, CacheDirOfABucketPrefix) {
  MountOptions o;
  o.origin.source = "s3://bucket/train/";
  ASSERT_TRUE(validate(o).isOk());
  EXPECT_NE(o.cache.dir.find("/train-"), std::string::npos) << o.cache.dir;
}

}  // namespace
}  // namespace epochfs::config
