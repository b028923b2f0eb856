// config/ConfigLoader.h: YAML file + command-line overrides -> MountOptions.
//
// The first step of a mount: cli/ starts from MountOptions' defaults, applies the config file
// (loadConfigFile), then its flags, then validate(), and hands each module its own struct.
// Precedence: built-in defaults < config file < flags. The schema (every key, type, default
// and range) is in docs/config.md. Only config/ includes yaml-cpp; no YAML exception leaves it.
#pragma once

#include <cstdint>
#include <optional>
#include <chrono>
#include <string>
#include <string_view>

#include "common/Status.h"
#include "config/Options.h"

namespace epochfs::config {

// Parses a size: plain bytes ("1048576"), or a number with a unit: B, KiB, MiB, GiB, TiB
// (binary) or KB, MB, GB, TB (decimal), optionally with a space ("20 MiB"). Fractions are
// allowed with a unit ("1.5GiB") and rounded down to whole bytes. Units are case-sensitive
// ("20mib", "20k" are rejected, with a hint). Anything else, including a sign, an empty
// string, a fraction without a unit and a value above 2^64-1 bytes, is kInvalid with a
// message quoting the text: "'10XB' is not a size (use e.g. 20MiB, 500GiB or plain bytes)".
// Callers prefix the key or flag.
Result<uint64_t> parseSize(std::string_view text);

// Parses metadata.ttl: "immutable" (kTtlImmutable) or a number of seconds >= 0.
Result<double> parseTtl(std::string_view text);

// Renders bytes for people: "20 MiB", "1.5 GiB", "512 B": the largest binary unit (up to
// TiB) that is <= bytes, at most two decimals, trailing zeros dropped. Exact multiples print
// without decimals, and then parseSize() reads the text back to the same value.
std::string formatSize(uint64_t bytes);

// Reads the YAML config at `path` into `opts` (which holds the defaults on entry); keys absent
// from the file keep their value, and an empty file changes nothing. Unknown keys, duplicate
// keys, wrong types, a key with no value, malformed sizes, single values out of range and YAML
// syntax errors are kInvalid with a message naming the file, the line (1-based), the key
// ("cache.size") and the problem: "imagenet.yaml:4: cache.size: '10XB' is not a size (use e.g.
// 20MiB, 500GiB or plain bytes)". Every problem found is reported, one per line ('\n'
// separated, first problem first). On error `opts` is left unchanged. Checks that involve
// several keys (cache.size vs cache.block_size) or a required key are validate()'s.
// A missing or unreadable file names the path: kNotFound, kPermissionDenied, kIsDirectory,
// kIo, or kInvalid for a file over 1 MiB.
Status loadConfigFile(const std::string& path, MountOptions& opts);
// How long a pipe, FIFO or device named as the config file may give nothing to read before
// loadConfigFile() gives up on it (a FIFO without a writer must not hang a mount).
inline constexpr std::chrono::milliseconds kConfigWait{10000};
Status loadConfigFile(const std::string& path, MountOptions& opts, std::chrono::milliseconds wait);

// Same, from YAML text; `sourceName` stands for the file name in messages.
Status loadConfigText(std::string_view yaml, std::string_view sourceName, MountOptions& opts);

// Checks the whole option set for impossible values and fills derived defaults (cache.dir from
// the source, log.file from the cache dir unless foreground). Makes origin.source (unless it
// is a URL), cache.dir and log.file absolute, since the daemon chdir()s to "/". Refuses a
// cache.dir or log.file inside the mountpoint (when set) and a cache.dir inside a local source
// or containing it. Errors are kInvalid naming the key ("fuse.threads: 0 is out of range
// (1..1024)"), every problem on its own line. Idempotent. Reads the current directory and,
// for the default cache dir, the euid and $XDG_CACHE_HOME/$HOME; touches no file.
Status validate(MountOptions& opts);

}  // namespace epochfs::config
