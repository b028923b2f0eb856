// origin/s3/Credentials.h: where an S3 origin's access key comes from.
//
// makeS3Origin() loads the key once at mount; S3Client signs with it. The first of these that
// is configured wins (explicit configuration before the implicit AWS places):
//
//   1. s3.credentials_file: that shared-credentials file, profile s3.profile, else
//      $AWS_PROFILE, else "default".
//   2. s3.access_key_env + s3.secret_key_env (+ s3.session_token_env): those variables.
//   3. s3.profile: that profile in the standard shared-credentials file (below).
//   4. $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY (+ $AWS_SESSION_TOKEN).
//   5. The shared-credentials file $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials,
//      profile $AWS_PROFILE, else "default".
//
// A source that is configured but broken (file missing, profile absent, variable unset) is an
// error naming it; the search does not silently fall through to the next one. Secrets never
// appear in a message: errors name files, profiles, variables and line numbers, never values
// (the access key id, which is not secret, may be named by callers to say which key failed).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "common/Status.h"
#include "origin/s3/SigV4.h"

namespace epochfs::config {
struct S3CredentialOptions;
}

namespace epochfs::origin::s3 {

// Reads an environment variable; nullopt when unset. Tests pass a fake.
using GetEnv = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (getenv).
GetEnv processEnv();

struct LoadedCredentials {
  AccessKey key;
  // Where the key came from, for messages: "environment variables AWS_ACCESS_KEY_ID/...",
  // "/root/.aws/credentials, profile [default]".
  std::string source;
};

// Follows the order above. Errors: kInvalid (no credentials anywhere, or a configured source
// that is incomplete), kNotFound (a configured file missing), kPermissionDenied, kIo.
Result<LoadedCredentials> loadCredentials(const config::S3CredentialOptions& opts,
                                          const GetEnv& env);

// Parses AWS shared-credentials INI text: "[name]" (or "[profile name]") sections with
// aws_access_key_id, aws_secret_access_key and optionally aws_session_token. Comments start
// with '#' or ';'. kNotFound if the profile is absent; kInvalid if it lacks a key or a line is
// malformed (by line number). `fileName` is for messages.
// Overwrites in place (so that /proc/PID/environ and a core dump no longer show them) and then
// removes the environment variables that may hold a secret: AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN and the ones named by s3.secret_key_env and s3.session_token_env. For the
// mount command once the key is loaded, before the daemon is forked: nothing reads them later,
// and no child then inherits them. Returns the names it scrubbed. Not thread-safe (setenv).
std::vector<std::string> scrubSecretEnv(const config::S3CredentialOptions& opts);

Result<AccessKey> parseCredentialsFile(std::string_view text, std::string_view profile,
                                       std::string_view fileName);

}  // namespace epochfs::origin::s3
