// config/ConfigLoader.cc: YAML -> MountOptions. The only file that includes yaml-cpp.
//
// We walk the node tree ourselves against one schema table instead of calling
// node["cache"]["size"].as<T>(): as<T>() throws without naming the key, silently ignores keys
// it was not asked about (so "sise: 20GiB" would be a no-op), and accepts duplicates. The table
// also yields the "known keys" lists and did-you-mean hints, so they cannot drift from what is
// parsed. Every YAML exception is caught in loadConfigText(); none leaves this file.
#include "config/ConfigLoader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/Printable.h"
#include "config/Checks.h"
#include "config/Suggest.h"
#include "config/YamlGuard.h"

namespace epochfs::config {

Result<double> parseTtl(std::string_view text) {
  if (text == "immutable") return kTtlImmutable;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(v >= 0)) {
    return invalid("'" + std::string(text) +
                   "' is not a ttl (use immutable, or seconds >= 0 such as 0 or 300)");
  }
  return v;
}

namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxProblems = 20;

// What a key holds, as the user is told it ("expected a size, got a map").
enum class Kind { kString, kSize, kInt, kSeconds, kBool };

std::string_view kindName(Kind kind) {
  switch (kind) {
    case Kind::kString: return "a string";
    case Kind::kSize: return "a size";
    case Kind::kInt: return "an integer";
    case Kind::kSeconds: return "a number of seconds";
    case Kind::kBool: return "true or false";
  }
  return "a value";
}

// Parsers of one scalar. Messages quote the text and name no key.
Result<int64_t> parseInt(std::string_view text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return invalid("'" + std::string(text) + "' is out of range");
  }
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return invalid("'" + std::string(text) + "' is not an integer");
  }
  return v;
}

Result<double> parseSeconds(std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return invalid("'" + std::string(text) + "' is not a number of seconds (e.g. 60 or 0.5)");
  }
  return v;
}

// YAML 1.1 booleans, as yaml-cpp and most YAML users know them, minus the y/n shorthands.
Result<bool> parseBool(std::string_view text) {
  for (std::string_view t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (text == t) return true;
  }
  for (std::string_view f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (text == f) return false;
  }
  return invalid("'" + std::string(text) + "' is not a boolean (use true or false)");
}

Status setSize(std::string_view text, uint64_t& out) {
  Result<uint64_t> v = parseSize(text);
  if (!v.isOk()) return v.status();
  out = *v;
  return Status::ok();
}

using Setter = Status (*)(std::string_view text, MountOptions& o);

struct Field {
  std::string_view name;
  Kind kind;
  Setter set;
};

struct Section {
  std::string_view name;
  std::span<const Field> fields;
};

// The schema. docs/config.md documents exactly these keys; keep the two in step.
constexpr Field kOriginFields[] = {
    {"source", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       o.origin.source = t;
       return Status::ok();
     }},
};
constexpr Field kCacheFields[] = {
    {"dir", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::path(t));
       o.cache.dir = t;
       return Status::ok();
     }},
    {"size", Kind::kSize,
     [](std::string_view t, MountOptions& o) { return setSize(t, o.cache.sizeBytes); }},
    {"min_free", Kind::kSize,
     [](std::string_view t, MountOptions& o) { return setSize(t, o.cache.minFreeBytes); }},
    {"block_size", Kind::kSize,
     [](std::string_view t, MountOptions& o) {
       uint64_t v = 0;
       EPOCHFS_RETURN_IF_ERROR(setSize(t, v));
       EPOCHFS_RETURN_IF_ERROR(checks::blockSize(v));
       o.cache.blockSizeBytes = v;
       return Status::ok();
     }},
    {"random_block_size", Kind::kSize,
     [](std::string_view t, MountOptions& o) {
       o.cache.randomGrains = t != "off";
       o.cache.randomBlockSizeBytes = 0;
       if (t == "auto" || t == "off") return Status::ok();
       uint64_t v = 0;
       Status st = setSize(t, v);
       if (!st.isOk()) return invalid(st.message() + " (a size, auto or off)");
       EPOCHFS_RETURN_IF_ERROR(checks::randomBlockSize(v));
       o.cache.randomBlockSizeBytes = v;
       return Status::ok();
     }},
};
constexpr Field kPolicyFields[] = {
    {"name", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::policyName(t));
       o.policy.name = t;
       return Status::ok();
     }},
    {"prefetch_threads", Kind::kInt,
     [](std::string_view t, MountOptions& o) {
       if (t == "auto") {
         o.policy.prefetchThreads = kPrefetchThreadsAuto;
         return Status::ok();
       }
       Result<int64_t> v = parseInt(t);
       if (!v.isOk()) {
         return invalid(v.status().message() + " (0.." + std::to_string(kMaxPrefetchThreads) +
                        ", or auto)");
       }
       EPOCHFS_RETURN_IF_ERROR(checks::prefetchThreads(*v));
       o.policy.prefetchThreads = static_cast<int>(*v);
       return Status::ok();
     }},
    {"prefetch_listed", Kind::kBool,
     [](std::string_view t, MountOptions& o) {
       Result<bool> v = parseBool(t);
       if (!v.isOk()) return v.status();
       o.policy.prefetchListed = *v;
       return Status::ok();
     }},
};
constexpr Field kFuseFields[] = {
    {"threads", Kind::kInt,
     [](std::string_view t, MountOptions& o) {
       Result<int64_t> v = parseInt(t);
       if (!v.isOk()) {
         return invalid(v.status().message() + " (1.." + std::to_string(kMaxFuseThreads) + ")");
       }
       EPOCHFS_RETURN_IF_ERROR(checks::fuseThreads(*v));
       o.fuse.threads = static_cast<int>(*v);
       return Status::ok();
     }},
    {"attr_timeout", Kind::kSeconds,
     [](std::string_view t, MountOptions& o) {
       Result<double> v = parseSeconds(t);
       if (!v.isOk()) return v.status();
       EPOCHFS_RETURN_IF_ERROR(checks::attrTimeout(*v));
       o.fuse.attrTimeoutSec = *v;
       return Status::ok();
     }},
    {"read_ahead", Kind::kSize,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(setSize(t, o.fuse.readAheadBytes));
       return checks::readAhead(o.fuse.readAheadBytes);
     }},
    {"allow_other", Kind::kBool,
     [](std::string_view t, MountOptions& o) {
       Result<bool> v = parseBool(t);
       if (!v.isOk()) return v.status();
       o.fuse.allowOther = *v;
       return Status::ok();
     }},
    {"nonempty", Kind::kBool,
     [](std::string_view t, MountOptions& o) {
       Result<bool> v = parseBool(t);
       if (!v.isOk()) return v.status();
       o.fuse.nonempty = *v;
       return Status::ok();
     }},
    {"passthrough", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       Result<FuseOptions::Passthrough> v = parsePassthrough(t);
       if (!v.isOk()) return v.status();
       o.fuse.passthrough = *v;
       return Status::ok();
     }},
    {"passthrough_verify", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       Result<bool> v = parsePassthroughVerify(t);
       if (!v.isOk()) return v.status();
       o.cache.verifyHandOutsOnce = *v;
       return Status::ok();
     }},
};
constexpr Field kLogFields[] = {
    {"level", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::logLevel(t));
       o.log.level = t;
       return Status::ok();
     }},
    {"file", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::path(t));
       o.log.file = t;
       return Status::ok();
     }},
};
// s3 fields: a single-value check runs here (so a bad value has a line), validate() runs it
// again on the final options.
Status setSeconds(std::string_view t, double& out, Status (*check)(double)) {
  Result<double> v = parseSeconds(t);
  if (!v.isOk()) return v.status();
  EPOCHFS_RETURN_IF_ERROR(check(*v));
  out = *v;
  return Status::ok();
}

Status setCount(std::string_view t, int& out, int max) {
  Result<int64_t> v = parseInt(t);
  if (!v.isOk()) return invalid(v.status().message() + " (1.." + std::to_string(max) + ")");
  EPOCHFS_RETURN_IF_ERROR(checks::countInRange(*v, max));
  out = static_cast<int>(*v);
  return Status::ok();
}

constexpr Field kS3Fields[] = {
    {"endpoint", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::s3Endpoint(t));
       o.origin.s3.endpoint = t;
       return Status::ok();
     }},
    {"region", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::s3Region(t));
       o.origin.s3.region = t;
       return Status::ok();
     }},
    {"addressing", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::s3Addressing(t));
       o.origin.s3.addressing = t;
       return Status::ok();
     }},
    {"verify_tls", Kind::kBool,
     [](std::string_view t, MountOptions& o) {
       Result<bool> v = parseBool(t);
       if (!v.isOk()) return v.status();
       o.origin.s3.verifyTls = *v;
       return Status::ok();
     }},
    {"verify_integrity", Kind::kBool,
     [](std::string_view t, MountOptions& o) {
       Result<bool> v = parseBool(t);
       if (!v.isOk()) return v.status();
       o.origin.s3.verifyIntegrity = *v;
       return Status::ok();
     }},
    {"ca_bundle", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::path(t));
       o.origin.s3.caBundle = t;
       return Status::ok();
     }},
    {"credentials_file", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::path(t));
       o.origin.s3.credentials.file = t;
       return Status::ok();
     }},
    {"profile", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       o.origin.s3.credentials.profile = t;
       return Status::ok();
     }},
    {"access_key_env", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::envName(t));
       o.origin.s3.credentials.accessKeyEnv = t;
       return Status::ok();
     }},
    {"secret_key_env", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::envName(t));
       o.origin.s3.credentials.secretKeyEnv = t;
       return Status::ok();
     }},
    {"session_token_env", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       EPOCHFS_RETURN_IF_ERROR(checks::envName(t));
       o.origin.s3.credentials.sessionTokenEnv = t;
       return Status::ok();
     }},
    {"connect_timeout", Kind::kSeconds,
     [](std::string_view t, MountOptions& o) {
       return setSeconds(t, o.origin.s3.connectTimeoutSec, checks::positiveSeconds);
     }},
    {"low_speed_time", Kind::kSeconds,
     [](std::string_view t, MountOptions& o) {
       return setSeconds(t, o.origin.s3.lowSpeedTimeSec, checks::positiveSeconds);
     }},
    {"low_speed_limit", Kind::kSize,
     [](std::string_view t, MountOptions& o) {
       uint64_t v = 0;
       EPOCHFS_RETURN_IF_ERROR(setSize(t, v));
       if (v == 0) return invalid("must be at least 1 byte (per second)");
       o.origin.s3.lowSpeedLimitBytes = v;
       return Status::ok();
     }},
    {"max_connections", Kind::kInt,
     [](std::string_view t, MountOptions& o) {
       return setCount(t, o.origin.s3.maxConnections, kMaxS3Connections);
     }},
    {"retry_max_attempts", Kind::kInt,
     [](std::string_view t, MountOptions& o) {
       return setCount(t, o.origin.s3.retry.maxAttempts, kMaxS3Attempts);
     }},
    {"retry_base_delay", Kind::kSeconds,
     [](std::string_view t, MountOptions& o) {
       return setSeconds(t, o.origin.s3.retry.baseDelaySec, checks::attrTimeout);
     }},
    {"retry_max_delay", Kind::kSeconds,
     [](std::string_view t, MountOptions& o) {
       return setSeconds(t, o.origin.s3.retry.maxDelaySec, checks::attrTimeout);
     }},
    {"retry_budget", Kind::kSeconds,
     [](std::string_view t, MountOptions& o) {
       return setSeconds(t, o.origin.s3.retry.budgetSec, checks::positiveSeconds);
     }},
};
constexpr Field kMetadataFields[] = {
    {"ttl", Kind::kString,
     [](std::string_view t, MountOptions& o) {
       Result<double> v = parseTtl(t);
       if (!v.isOk()) return v.status();
       o.metadata.ttlSec = *v;
       return Status::ok();
     }},
};
constexpr Section kSections[] = {
    {"origin", kOriginFields}, {"cache", kCacheFields}, {"policy", kPolicyFields},
    {"fuse", kFuseFields},     {"log", kLogFields},     {"s3", kS3Fields},
    {"metadata", kMetadataFields},
};

std::string sectionNames() {
  std::string out;
  for (const Section& s : kSections) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

std::string fieldNames(const Section& section) {
  std::string out;
  for (const Field& f : section.fields) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

// The tail of an unknown-key message: "; did you mean 'cache.size'?" or "". `section` is ""
// for a top-level key.
std::string suggestion(std::string_view section, std::string_view name) {
  if (section.empty()) {
    if (name == "mountpoint" || name == "foreground") {
      return "; '" + std::string(name) + "' is set on the command line only";
    }
    for (const Section& s : kSections) {
      if (looksLike(name, s.name)) return "; did you mean '" + std::string(s.name) + "'?";
    }
    for (const Section& s : kSections) {
      for (const Field& f : s.fields) {
        const std::string dotted = std::string(s.name) + "." + std::string(f.name);
        if (editDistance(name, f.name) == 0 || editDistance(name, dotted) == 0) {
          return "; write '" + std::string(f.name) + ":' nested under '" + std::string(s.name) +
                 ":'";
        }
      }
    }
    return "";
  }
  for (const Section& s : kSections) {
    if (s.name != section) continue;
    for (const Field& f : s.fields) {
      if (looksLike(name, f.name)) {
        return "; did you mean '" + std::string(s.name) + "." + std::string(f.name) + "'?";
      }
    }
  }
  // The right key in the wrong section ("cache: {threads: 8}").
  for (const Section& s : kSections) {
    for (const Field& f : s.fields) {
      if (s.name != section && editDistance(name, f.name) == 0) {
        return "; did you mean '" + std::string(s.name) + "." + std::string(f.name) + "'?";
      }
    }
  }
  return "";
}

std::string_view nodeTypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

// Collects "file:line: message" lines; the walk goes on after a problem so that one run
// reports them all.
class Problems {
 public:
  // `lineCount`: lines in the text. yaml-cpp places errors found at the end of the input
  // (an unclosed bracket) on the line after the last; we clamp to the last real line.
  Problems(std::string_view file, int lineCount) : file_(file), lineCount_(lineCount) {}

  void add(const YAML::Mark& mark, std::string_view message) {
    addAt(!mark.is_null() && mark.line >= 0 ? mark.line + 1 : 0, message);
  }

  // `line` from 1; 0 = none. The message may quote the file's bytes: they are made printable
  // (no control bytes or bidi overrides reach a terminal or the log).
  void addAt(int line, std::string_view message) {
    if (lines_.size() == kMaxProblems) ++dropped_;
    if (lines_.size() >= kMaxProblems) return;
    std::string text = file_ + ":";
    if (line > 0) text += std::to_string(std::max(1, std::min(line, lineCount_))) + ":";
    text += " ";
    text += printable(message);
    lines_.push_back(std::move(text));
  }

  bool empty() const { return lines_.empty(); }

  Status status() const {
    std::string msg;
    for (const std::string& l : lines_) msg += (msg.empty() ? "" : "\n") + l;
    if (dropped_ > 0) msg += "\n(and more problems not shown)";
    return invalid(std::move(msg));
  }

 private:
  std::string file_;
  int lineCount_;
  std::vector<std::string> lines_;
  size_t dropped_ = 0;
};

// Iterates a map's entries, reporting non-scalar and duplicate keys; calls fn(keyNode, name,
// value) for the others. `prefix` is "" at the top level, "cache." in a section.
template <typename Fn>
void forEachKey(const YAML::Node& map, std::string_view prefix, Problems& problems, Fn fn) {
  std::map<std::string, int, std::less<>> seen;  // key -> 1-based line of first occurrence
  for (const auto& entry : map) {  // a pair of Nodes made by the iterator: copy, don't point
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    if (!key.IsScalar()) {
      const std::string where =
          prefix.empty() ? "" : " (in '" + std::string(prefix.substr(0, prefix.size() - 1)) + "')";
      problems.add(key.Mark(),
                   "a key must be a plain name, not " + std::string(nodeTypeName(key)) + where);
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = std::string(prefix) + name;
    const auto [prev, inserted] = seen.emplace(name, key.Mark().line + 1);
    if (!inserted) {
      problems.add(key.Mark(), "duplicate key '" + path + "' (first at line " +
                                   std::to_string(prev->second) + ")");
      continue;
    }
    fn(key, name, value);
  }
}

void loadField(const Field& field, const std::string& path, const YAML::Node& key,
               const YAML::Node& value, MountOptions& opts, Problems& problems) {
  if (!value.IsScalar()) {
    const std::string what = value.IsNull()
                                 ? "no value (remove the key to use the default)"
                                 : "expected " + std::string(kindName(field.kind)) + ", got " +
                                       std::string(nodeTypeName(value));
    problems.add(key.Mark(), path + ": " + what);
    return;
  }
  const Status s = field.set(value.Scalar(), opts);
  if (!s.isOk()) problems.add(key.Mark(), path + ": " + s.message());
}

void loadSection(const Section& section, const YAML::Node& key, const YAML::Node& value,
                 MountOptions& opts, Problems& problems) {
  if (value.IsNull()) return;  // "cache:" with every key below commented out
  if (!value.IsMap()) {
    problems.add(key.Mark(), std::string(section.name) + ": expected a map of keys (" +
                                 fieldNames(section) + "), got " +
                                 std::string(nodeTypeName(value)));
    return;
  }
  const std::string prefix = std::string(section.name) + ".";
  forEachKey(value, prefix, problems,
             [&](const YAML::Node& k, const std::string& name, const YAML::Node& v) {
               for (const Field& f : section.fields) {
                 if (f.name == name) return loadField(f, prefix + name, k, v, opts, problems);
               }
               problems.add(k.Mark(), "unknown key '" + prefix + name + "' (known keys in '" +
                                          std::string(section.name) + "': " +
                                          fieldNames(section) +
                                          suggestion(section.name, name) + ")");
             });
}

void loadRoot(const YAML::Node& root, MountOptions& opts, Problems& problems) {
  if (root.IsNull()) return;  // an empty file, or only comments: all defaults
  if (!root.IsMap()) {
    problems.add(root.Mark(), "the top level must be a map of sections (" + sectionNames() +
                                  "), not " + std::string(nodeTypeName(root)));
    return;
  }
  forEachKey(root, "", problems,
             [&](const YAML::Node& k, const std::string& name, const YAML::Node& v) {
               for (const Section& s : kSections) {
                 if (s.name == name) return loadSection(s, k, v, opts, problems);
               }
               problems.add(k.Mark(), "unknown key '" + name + "' (known sections: " +
                                          sectionNames() + suggestion("", name) + ")");
             });
}

}  // namespace

Status loadConfigText(std::string_view yaml, std::string_view sourceName, MountOptions& opts) {
  MountOptions result = opts;
  int lineCount = static_cast<int>(std::count(yaml.begin(), yaml.end(), '\n'));
  if (!yaml.empty() && yaml.back() != '\n') ++lineCount;
  Problems problems(sourceName, lineCount);
  for (const auto& [line, what] : yamlHazards(yaml)) problems.addAt(line, what);
  if (!problems.empty()) return problems.status();
  try {
    // Not YAML::LoadAll, which may never return (YamlGuard.h).
    const std::vector<YAML::Mark> docs = yamlDocumentStarts(yaml, 2);
    if (docs.size() > 1) {
      const size_t at = static_cast<size_t>(docs[1].pos);
      if (at < yaml.size() && yaml[at] == ',') {
        problems.add(docs[1], "YAML syntax error: a ',' outside '[ ]' and '{ }' where no value "
                              "goes on");
      } else {
        problems.add(docs[1], "more than one YAML document ('---'); put all keys in one");
      }
    } else if (docs.size() == 1) {
      loadRoot(YAML::Load(std::string(yaml)), result, problems);
    }
  } catch (const YAML::ParserException& e) {
    problems.add(e.mark, "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {  // e.g. nesting too deep; a bug if anything else
    problems.add(e.mark, "cannot read YAML: " + e.msg);
  }
  if (!problems.empty()) return problems.status();
  opts = std::move(result);
  return Status::ok();
}

Status loadConfigFile(const std::string& path, MountOptions& opts) {
  return loadConfigFile(path, opts, kConfigWait);
}

Status loadConfigFile(const std::string& path, MountOptions& opts, std::chrono::milliseconds wait) {
  const std::string what = "config file '" + printable(path) + "'";
  // O_NONBLOCK: opening a FIFO that no one writes to must not block (--config <(generate) is a
  // pipe with a writer, and works).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errnoStatus(errno, what);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return errnoStatus(err, what);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return errnoStatus(EISDIR, what);
  }
  const bool regular = S_ISREG(st.st_mode);
  // Read to EOF rather than trusting st_size, so that --config <(generate) works too. A pipe,
  // FIFO or device gets `wait` without a byte before it is given up on.
  std::string text;
  char buf[65536];
  int err = 0;
  bool timedOut = false;
  for (;;) {
    if (!regular) {
      pollfd p{fd, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        err = errno;
        break;
      }
      if (r == 0) {
        timedOut = true;
        break;
      }
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) break;
  }
  ::close(fd);
  if (err != 0) return errnoStatus(err, what);
  if (timedOut) {
    return invalid(what + " is a " + (S_ISFIFO(st.st_mode) ? "pipe or FIFO" : "device") +
                   " that gave nothing to read for " +
                   std::to_string(wait.count() / 1000.0).substr(0, 4) + " s");
  }
  if (text.size() > kMaxConfigBytes) {
    return invalid(what + " is larger than 1 MiB; is it really an epochfs config?");
  }
  return loadConfigText(text, path, opts);
}

}  // namespace epochfs::config
