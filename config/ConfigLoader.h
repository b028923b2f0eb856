// config/ConfigLoader.h: YAML file + command-line overrides -> MountOptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/Status.h"
#include "config/Options.h"

namespace epochfs::config {

// Parses a size: plain bytes ("1048576"), or a number with a unit: B, KiB, MiB, GiB, TiB
// (binary) or KB, MB, GB, TB (decimal), optionally with a space ("20 MiB"). Fractions are
// allowed with a unit ("1.5GiB"). Anything else, including overflow, is kInvalid with a
// message quoting the text.
Result<uint64_t> parseSize(std::string_view text);

// Renders bytes for people: "20 MiB", "1.5 GiB", "512 B".
std::string formatSize(uint64_t bytes);

// Reads the YAML config at `path` into `opts` (which holds the defaults on entry). Unknown
// keys, wrong types, malformed sizes and impossible values are kInvalid with a message naming
// the file, the key ("cache.size") and the line: "imagenet.yaml:4: cache.size: '10XB' is not a
// size (use e.g. 20MiB, 500GiB or plain bytes)". A missing or unreadable file names the path.
Status loadConfigFile(const std::string& path, MountOptions& opts);

// Same, from YAML text; `sourceName` stands for the file name in messages.
Status loadConfigText(std::string_view yaml, std::string_view sourceName, MountOptions& opts);

// Checks the whole option set for impossible values and fills derived defaults (cache.dir from
// the source, log.file from the cache dir). Messages name the key.
Status validate(MountOptions& opts);

}  // namespace epochfs::config
