#include "cli/Logging.h"

#include <chrono>
#include <filesystem>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace epochfs::cli {

constexpr size_t kMaxLogBytes = 4 << 20;  // then one rotated file: 8 MiB at most

Status setupLogging(const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.empty()) {
      logger = spdlog::stderr_color_mt("epochfs");
    } else {
      std::filesystem::create_directories(std::filesystem::path(file).parent_path());
      // Bounded: the default log file lives in the cache dir and counts against cache.size.
      logger = spdlog::rotating_logger_mt("epochfs", file, kMaxLogBytes, 1);
    }
  } catch (const std::exception& e) {
    return ioError("cannot open log file " + file + ": " + e.what());
  }
  logger->set_level(spdlog::level::from_str(level));
  // Info and above are rare (mount, unmount, trouble) and must survive a kill -9.
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  return Status::ok();
}

}  // namespace epochfs::cli
