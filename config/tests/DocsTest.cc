// docs/config.md must not drift from the code: its example must load and validate, and its key
// table must name every key the loader knows.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "config/ConfigLoader.h"

namespace epochfs::config {
namespace {

std::string readDoc() {
  std::ifstream in(std::string(EPOCHFS_DOCS_DIR) + "/config.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DocsTest, ExampleFileIsValid) {
  const std::string doc = readDoc();
  ASSERT_FALSE(doc.empty()) << "cannot read " << EPOCHFS_DOCS_DIR << "/config.md";
  const size_t start = doc.find("```yaml\n");
  ASSERT_NE(start, std::string::npos);
  const size_t body = start + 8;
  const size_t end = doc.find("```", body);
  ASSERT_NE(end, std::string::npos);

  MountOptions o;
  const Status loaded = loadConfigText(doc.substr(body, end - body), "config.md", o);
  ASSERT_TRUE(loaded.isOk()) << loaded.toString();
  EXPECT_EQ(o.cache.sizeBytes, 500 * kGiB);
  EXPECT_TRUE(o.fuse.allowOther);
  const Status valid = validate(o);
  EXPECT_TRUE(valid.isOk()) << valid.toString();
}

TEST(DocsTest, EveryKeyIsInTheTable) {
  const std::string doc = readDoc();
  for (const char* key : {"origin.source", "cache.dir", "cache.size", "cache.min_free",
                          "cache.block_size", "policy.name", "policy.prefetch_threads",
                          "policy.prefetch_listed", "fuse.threads", "fuse.attr_timeout",
                          "fuse.allow_other", "fuse.nonempty", "fuse.read_ahead", "log.level",
                          "log.file", "s3.endpoint", "s3.region", "s3.addressing",
                          "s3.verify_tls", "s3.verify_integrity", "s3.ca_bundle",
                          "s3.credentials_file", "s3.profile", "s3.access_key_env",
                          "s3.secret_key_env", "s3.session_token_env", "s3.connect_timeout",
                          "s3.low_speed_time", "s3.low_speed_limit", "s3.max_connections",
                          "s3.retry_max_attempts", "s3.retry_base_delay", "s3.retry_max_delay",
                          "s3.retry_budget"}) {
    EXPECT_NE(doc.find("| `" + std::string(key) + "` |"), std::string::npos) << key;
    // And the loader knows it: a wrong-type value is reported against that key.
    const std::string k(key);
    const std::string yaml = k.substr(0, k.find('.')) + ":\n  " + k.substr(k.find('.') + 1) +
                             ": {a: 1}\n";
    MountOptions o;
    const Status s = loadConfigText(yaml, "x.yaml", o);
    EXPECT_NE(s.message().find("x.yaml:2: " + k + ": expected"), std::string::npos)
        << s.message();
  }
}

}  // namespace
}  // namespace epochfs::config
