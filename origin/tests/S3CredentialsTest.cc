// origin/tests/S3CredentialsTest.cc: the credential search order, the INI parser, and that no
// message ever carries a secret.
#include "origin/s3/Credentials.h"

#include <map>

#include <gtest/gtest.h>

#include "config/Options.h"
#include "common/testing/TempDir.h"

namespace epochfs::origin::s3 {

using ::epochfs::test::TempDir;

namespace {

constexpr const char* kSecret = "s3cr3t/KEY+abc=";
constexpr const char* kFileSecret = "fil3/SECRET+xyz=";

GetEnv fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string iniFile() {
  return "# comment\n"
         "[default]\n"
         "aws_access_key_id = AKIDDEFAULT\n"
         "aws_secret_access_key = " + std::string(kFileSecret) + "\n"
         "\n"
         "[profile train]\n"
         "  aws_access_key_id=AKIDTRAIN  \n"
         "AWS_SECRET_ACCESS_KEY=trainsecret\n"
         "aws_session_token = tok/en+=\n"
         "; another comment\n"
         "[broken]\n"
         "aws_access_key_id = AKIDBROKEN\n";
}

class CredentialsTest : public ::testing::Test {
 protected:
  std::string writeIni(const std::string& text = iniFile()) {
    dir_.write("credentials", text);
    return dir_ / "credentials";
  }
  TempDir dir_;
};

TEST(CredentialsParseTest, DefaultAndNamedProfiles) {
  Result<AccessKey> d = parseCredentialsFile(iniFile(), "default", "f");
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(d->id, "AKIDDEFAULT");
  EXPECT_EQ(d->secret, kFileSecret);
  EXPECT_EQ(d->sessionToken, "");
  Result<AccessKey> t = parseCredentialsFile(iniFile(), "train", "f");
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->id, "AKIDTRAIN");
  EXPECT_EQ(t->secret, "trainsecret");
  EXPECT_EQ(t->sessionToken, "tok/en+=");
}

TEST(CredentialsParseTest, ErrorsNameFileAndProfileButNoValue) {
  Result<AccessKey> missing = parseCredentialsFile(iniFile(), "nope", "/x/creds");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "/x/creds, profile [nope]: no such profile");

  Result<AccessKey> broken = parseCredentialsFile(iniFile(), "broken", "/x/creds");
  ASSERT_FALSE(broken.isOk());
  EXPECT_EQ(broken.status().message(), "/x/creds, profile [broken]: aws_secret_access_key is missing");

  // A malformed line is reported by number; its text (maybe a pasted secret) is not echoed.
  const std::string pasted = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";
  Result<AccessKey> bad = parseCredentialsFile("[default]\n" + pasted + "\n", "default", "f");
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), "f: line 2 is not 'key = value'");
}

TEST_F(CredentialsTest, StandardEnvironmentVariables) {
  config::S3CredentialOptions opts;
  Result<LoadedCredentials> c = loadCredentials(
      opts, fakeEnv({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", kSecret},
                     {"AWS_SESSION_TOKEN", "tok"}, {"HOME", dir_.path()}}));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->key.id, "AKIDENV");
  EXPECT_EQ(c->key.secret, kSecret);
  EXPECT_EQ(c->key.sessionToken, "tok");
  EXPECT_EQ(c->source.find(kSecret), std::string::npos);
}

TEST_F(CredentialsTest, ExplicitFileWinsOverEnvironment) {
  config::S3CredentialOptions opts;
  opts.file = writeIni();
  opts.profile = "train";
  Result<LoadedCredentials> c = loadCredentials(
      opts, fakeEnv({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", kSecret}}));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->key.id, "AKIDTRAIN");
  EXPECT_EQ(c->source, opts.file + ", profile [train]");
}

TEST_F(CredentialsTest, ExplicitFileUsesAwsProfileThenDefault) {
  config::S3CredentialOptions opts;
  opts.file = writeIni();
  EXPECT_EQ(loadCredentials(opts, fakeEnv({}))->key.id, "AKIDDEFAULT");
  EXPECT_EQ(loadCredentials(opts, fakeEnv({{"AWS_PROFILE", "train"}}))->key.id, "AKIDTRAIN");
}

TEST_F(CredentialsTest, ConfiguredVariableNames) {
  config::S3CredentialOptions opts;
  opts.accessKeyEnv = "MY_ID";
  opts.secretKeyEnv = "MY_SECRET";
  opts.sessionTokenEnv = "MY_TOKEN";
  Result<LoadedCredentials> c = loadCredentials(
      opts, fakeEnv({{"MY_ID", "AKIDMINE"}, {"MY_SECRET", kSecret}, {"MY_TOKEN", "t"},
                     {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "other"}}));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->key.id, "AKIDMINE");
  EXPECT_EQ(c->key.secret, kSecret);
  EXPECT_EQ(c->key.sessionToken, "t");
  EXPECT_EQ(c->source, "environment variables MY_ID/MY_SECRET");

  // Configured but unset: an error naming the variable, no fall-through to AWS_*.
  Result<LoadedCredentials> unset = loadCredentials(
      opts, fakeEnv({{"MY_ID", "AKIDMINE"}, {"AWS_ACCESS_KEY_ID", "AKIDENV"},
                     {"AWS_SECRET_ACCESS_KEY", kSecret}}));
  ASSERT_FALSE(unset.isOk());
  EXPECT_NE(unset.status().message().find("MY_SECRET"), std::string::npos);
  EXPECT_EQ(unset.status().message().find(kSecret), std::string::npos);
}

TEST_F(CredentialsTest, SharedFileFromHomeAndFromVariable) {
  dir_.write(".aws/credentials", iniFile());
  config::S3CredentialOptions opts;
  Result<LoadedCredentials> home = loadCredentials(opts, fakeEnv({{"HOME", dir_.path()}}));
  ASSERT_TRUE(home.isOk()) << home.status().toString();
  EXPECT_EQ(home->key.id, "AKIDDEFAULT");
  EXPECT_EQ(home->source, dir_.path() + "/.aws/credentials, profile [default]");

  const std::string other = writeIni("[default]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=x\n");
  Result<LoadedCredentials> var = loadCredentials(
      opts, fakeEnv({{"HOME", dir_.path()}, {"AWS_SHARED_CREDENTIALS_FILE", other}}));
  ASSERT_TRUE(var.isOk()) << var.status().toString();
  EXPECT_EQ(var->key.id, "AKIDOTHER");
}

TEST_F(CredentialsTest, ConfiguredProfileWinsOverEnvironmentVariables) {
  dir_.write(".aws/credentials", iniFile());
  config::S3CredentialOptions opts;
  opts.profile = "train";
  Result<LoadedCredentials> c = loadCredentials(
      opts, fakeEnv({{"HOME", dir_.path()}, {"AWS_ACCESS_KEY_ID", "AKIDENV"},
                     {"AWS_SECRET_ACCESS_KEY", kSecret}}));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->key.id, "AKIDTRAIN");
}

TEST_F(CredentialsTest, NothingAnywhereSaysWhereItLooked) {
  config::S3CredentialOptions opts;
  Result<LoadedCredentials> c = loadCredentials(opts, fakeEnv({{"HOME", dir_.path()}}));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), Code::kInvalid);
  EXPECT_NE(c.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(c.status().message().find(dir_.path() + "/.aws/credentials"), std::string::npos);
}

TEST_F(CredentialsTest, HalfTheStandardVariablesIsAnError) {
  config::S3CredentialOptions opts;
  Result<LoadedCredentials> c = loadCredentials(
      opts, fakeEnv({{"HOME", dir_.path()}, {"AWS_SECRET_ACCESS_KEY", kSecret}}));
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("AWS_ACCESS_KEY_ID is not"), std::string::npos);
  EXPECT_EQ(c.status().message().find(kSecret), std::string::npos);
}

TEST_F(CredentialsTest, MissingConfiguredFileIsNotFoundAndNamed) {
  config::S3CredentialOptions opts;
  opts.file = dir_ / "nope";
  Result<LoadedCredentials> c = loadCredentials(opts, fakeEnv({}));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), Code::kNotFound);
  EXPECT_NE(c.status().message().find(opts.file), std::string::npos);
}

TEST_F(CredentialsTest, NoErrorFromAFileEchoesItsSecret) {
  config::S3CredentialOptions opts;
  opts.file = writeIni("[default]\naws_secret_access_key = " + std::string(kFileSecret) +
                       "\nwJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n");
  Result<LoadedCredentials> c = loadCredentials(opts, fakeEnv({}));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().message().find("wJalrXUtnFEMIK7MDENG"), std::string::npos)
      << c.status().message();
  opts.file = writeIni("[default]\naws_secret_access_key = " + std::string(kFileSecret) + "\n");
  c = loadCredentials(opts, fakeEnv({}));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().message().find(kFileSecret), std::string::npos) << c.status().message();
}

TEST(ScrubSecretEnvTest, OverwritesAndRemovesEverySecretVariable) {
  ::setenv("AWS_SECRET_ACCESS_KEY", "sekrit/AWS+1", 1);
  ::setenv("MY_SECRET", "sekrit-2", 1);
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDPUBLIC", 1);
  char* value = ::getenv("MY_SECRET");
  ASSERT_NE(value, nullptr);
  config::S3CredentialOptions opts;
  opts.secretKeyEnv = "MY_SECRET";
  std::vector<std::string> names = scrubSecretEnv(opts);
  EXPECT_EQ(names, (std::vector<std::string>{"AWS_SECRET_ACCESS_KEY", "MY_SECRET"}));
  EXPECT_EQ(::getenv("AWS_SECRET_ACCESS_KEY"), nullptr);
  EXPECT_EQ(::getenv("MY_SECRET"), nullptr);
  EXPECT_EQ(std::string(value, 8), std::string(8, '\0'));  // overwritten where it lay
  EXPECT_STREQ(::getenv("AWS_ACCESS_KEY_ID"), "AKIDPUBLIC");  // not a secret: kept
  ::unsetenv("AWS_ACCESS_KEY_ID");
}

}  // namespace
}  // namespace epochfs::origin::s3
