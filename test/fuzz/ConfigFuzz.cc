// A YAML config file: loadConfigText never crashes or throws, and an error names the file.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/ConfigLoader.h"
#include "config/Options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  epochfs::config::MountOptions opts;
  epochfs::Status st = epochfs::config::loadConfigText(text, "fuzz.yaml", opts);
  if (!st.isOk() && st.message().find("fuzz.yaml") == std::string::npos) std::abort();
  if (st.isOk()) (void)epochfs::config::validate(opts);
  return 0;
}
