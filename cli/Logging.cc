#include "cli/Logging.h"

#include <chrono>
#include <filesystem>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace epochfs::cli {

Status setupLogging(const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.empty()) {
      logger = spdlog::stderr_color_mt("epochfs");
    } else {
      std::filesystem::create_directories(std::filesystem::path(file).parent_path());
      logger = spdlog::basic_logger_mt("epochfs", file);
    }
  } catch (const std::exception& e) {
    return ioError("cannot open log file " + file + ": " + e.what());
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  return Status::ok();
}

}  // namespace epochfs::cli
