// origin/s3/Credentials.cc: the credential search. Messages quote names, never values: a
// malformed line is reported by its number alone, since it may hold a secret.
#include "origin/s3/Credentials.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/Strings.h"
#include "config/Options.h"

namespace epochfs::origin::s3 {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;

// What a credentials file's line, name or value is trimmed of: blanks, and the '\r' of a file
// with CRLF line ends.
constexpr std::string_view kLineBlanks = " \t\r";

Result<std::string> readSmallFile(const std::string& path) {
  const std::string what = "S3 credentials file " + path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoStatus(errno, what);
  std::string text;
  char buf[8192];
  int err = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) break;
  }
  ::close(fd);
  if (err != 0) return errnoStatus(err, what);
  if (text.size() > kMaxFileBytes) return invalid(what + " is larger than 1 MiB");
  return text;
}

std::optional<std::string> nonEmpty(const GetEnv& env, const std::string& name) {
  std::optional<std::string> v = env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

std::string homeDir(const GetEnv& env) {
  if (std::optional<std::string> home = nonEmpty(env, "HOME")) return *home;
  struct passwd pw;
  struct passwd* result = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &result) == 0 && result != nullptr &&
      result->pw_dir != nullptr) {
    return result->pw_dir;
  }
  return "";
}

Result<LoadedCredentials> fromFile(const std::string& path, const std::string& profile) {
  Result<std::string> text = readSmallFile(path);
  if (!text.isOk()) return text.status();
  Result<AccessKey> key = parseCredentialsFile(*text, profile, path);
  if (!key.isOk()) return key.status();
  return LoadedCredentials{std::move(*key), path + ", profile [" + profile + "]"};
}

}  // namespace

GetEnv processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<AccessKey> parseCredentialsFile(std::string_view text, std::string_view profile,
                                       std::string_view fileName) {
  const std::string file(fileName);
  bool inProfile = false;
  bool found = false;
  AccessKey key;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(pos, end - pos), kLineBlanks);
    pos = end + 1;
    ++lineNo;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return invalid(file + ": line " + std::to_string(lineNo) + " is not a [section]");
      }
      std::string_view name = trim(line.substr(1, line.size() - 2), kLineBlanks);
      if (name.starts_with("profile ")) name = trim(name.substr(8), kLineBlanks);
      inProfile = name == profile;
      found = found || inProfile;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return invalid(file + ": line " + std::to_string(lineNo) + " is not 'key = value'");
    }
    if (!inProfile) continue;
    const std::string name = lower(trim(line.substr(0, eq), kLineBlanks));
    const std::string value(trim(line.substr(eq + 1), kLineBlanks));
    if (name == "aws_access_key_id") {
      key.id = value;
    } else if (name == "aws_secret_access_key") {
      key.secret = value;
    } else if (name == "aws_session_token" || name == "aws_security_token") {
      key.sessionToken = value;
    }
  }
  const std::string where = file + ", profile [" + std::string(profile) + "]";
  if (!found) return notFound(where + ": no such profile");
  if (key.id.empty()) return invalid(where + ": aws_access_key_id is missing");
  if (key.secret.empty()) return invalid(where + ": aws_secret_access_key is missing");
  return key;
}

Result<LoadedCredentials> loadCredentials(const config::S3CredentialOptions& opts,
                                          const GetEnv& env) {
  const std::string envProfile = nonEmpty(env, "AWS_PROFILE").value_or("");
  const std::string profile =
      !opts.profile.empty() ? opts.profile : (!envProfile.empty() ? envProfile : "default");

  // 1. An explicit file.
  if (!opts.file.empty()) return fromFile(opts.file, profile);

  // 2. Explicitly named variables.
  if (!opts.accessKeyEnv.empty() || !opts.secretKeyEnv.empty()) {
    const std::string names = opts.accessKeyEnv + "/" + opts.secretKeyEnv;
    std::optional<std::string> id = nonEmpty(env, opts.accessKeyEnv);
    std::optional<std::string> secret = nonEmpty(env, opts.secretKeyEnv);
    if (opts.accessKeyEnv.empty() || opts.secretKeyEnv.empty()) {
      return invalid("S3 credentials: set both s3.access_key_env and s3.secret_key_env");
    }
    if (!id) return invalid("S3 credentials: environment variable " + opts.accessKeyEnv +
                            " (s3.access_key_env) is not set");
    if (!secret) return invalid("S3 credentials: environment variable " + opts.secretKeyEnv +
                                " (s3.secret_key_env) is not set");
    AccessKey key{*id, *secret, ""};
    if (!opts.sessionTokenEnv.empty()) {
      std::optional<std::string> token = nonEmpty(env, opts.sessionTokenEnv);
      if (!token) return invalid("S3 credentials: environment variable " +
                                 opts.sessionTokenEnv + " (s3.session_token_env) is not set");
      key.sessionToken = *token;
    }
    return LoadedCredentials{std::move(key), "environment variables " + names};
  }

  const std::string sharedFile =
      nonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE").value_or(homeDir(env) + "/.aws/credentials");

  // 3. An explicit profile: the user asked for the file, not for whatever the environment has.
  if (!opts.profile.empty()) return fromFile(sharedFile, profile);

  // 4. The standard variables.
  std::optional<std::string> id = nonEmpty(env, "AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = nonEmpty(env, "AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    return LoadedCredentials{AccessKey{*id, *secret, nonEmpty(env, "AWS_SESSION_TOKEN").value_or("")},
                             "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"};
  }
  if (id || secret) {
    return invalid(std::string("S3 credentials: ") +
                   (id ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                       : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
  }

  // 5. The standard file, if there is one.
  if (::access(sharedFile.c_str(), F_OK) == 0) return fromFile(sharedFile, profile);
  return invalid("no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                 "or s3.credentials_file, or create " + sharedFile + " with a [" + profile +
                 "] profile");
}

std::vector<std::string> scrubSecretEnv(const config::S3CredentialOptions& opts) {
  std::vector<std::string> names = {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
  for (const std::string& n : {opts.secretKeyEnv, opts.sessionTokenEnv}) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::vector<std::string> scrubbed;
  for (const std::string& n : names) {
    char* v = ::getenv(n.c_str());
    if (v == nullptr) continue;
    // getenv points into the process's environment block (what /proc/PID/environ shows), or
    // into a copy setenv made: either way the bytes go before the name does.
    std::memset(v, 0, std::strlen(v));
    ::unsetenv(n.c_str());
    scrubbed.push_back(n);
  }
  return scrubbed;
}

}  // namespace epochfs::origin::s3
