#include "cli/Logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace epochfs::cli {
namespace {

// spdlog errors between two reports on stderr.
constexpr uint64_t kReportEvery = 1000;

std::shared_ptr<RotatingLogSink> g_fileSink;  // set once by setupLogging, before any thread
std::atomic<uint64_t> g_spdlogErrors{0};

// What spdlog calls instead of throwing. It must not throw, log, or touch a sink (the broken
// one may be why we are here): a count, and a line on stderr now and then (for a daemon that
// is /dev/null; in the foreground, the terminal).
void onLogError(const std::string& msg) noexcept {
  const uint64_t n = g_spdlogErrors.fetch_add(1) + 1;
  if (n % kReportEvery != 1) return;
  char line[512];
  int len = std::snprintf(line, sizeof line, "epochfs: logging failed (%llu so far): %s\n",
                          static_cast<unsigned long long>(n), msg.c_str());
  if (len > 0) {
    (void)!::write(2, line, std::min(static_cast<size_t>(len), sizeof line - 1));
  }
}

}  // namespace

Status setupLogging(const std::string& level, const std::string& file, uint64_t maxBytes) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.empty()) {
      logger = spdlog::stderr_color_mt("epochfs");
    } else {
      const auto parent = std::filesystem::path(file).parent_path();
      // A dir we create is private (by default it is the cache dir, which BlockCache::open
      // makes 0700 anyway: this closes the window before it does).
      if (!parent.empty() && std::filesystem::create_directories(parent)) {
        std::filesystem::permissions(parent, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace);
      }
      // Bounded: the default log file lives in the cache dir and counts against cache.size.
      auto sink = std::make_shared<RotatingLogSink>(file, maxBytes);
      logger = std::make_shared<spdlog::logger>("epochfs", sink);
      spdlog::register_logger(logger);
      g_fileSink = sink;
    }
  } catch (const std::exception& e) {
    return ioError("cannot open log file " + file + ": " + e.what());
  }
  logger->set_error_handler(onLogError);
  logger->set_level(spdlog::level::from_str(level));
  // Info and above are rare (mount, unmount, trouble) and must survive a kill -9.
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_error_handler(onLogError);
  spdlog::flush_every(std::chrono::seconds(1));
  return Status::ok();
}

LogHealth logHealth() {
  LogHealth h = g_fileSink ? g_fileSink->health() : LogHealth{};
  h.writeFailures += g_spdlogErrors.load();
  return h;
}

}  // namespace epochfs::cli
