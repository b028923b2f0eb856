// fs/FileSystemPlan.cc: publishing a plan written to .epochfs/plan.
#include <spdlog/spdlog.h>

#include "common/Printable.h"

#include "fs/FileSystem.h"

namespace epochfs::fs {
namespace {

// Unknown paths named in the log, at most.
constexpr size_t kUnknownShown = 3;

}  // namespace

Status FileSystem::flush(OpenFile& f) {
  if (!f.plan || !f.planDirty) return Status::ok();
  Status st = publishPlan(f);
  f.plan = std::make_unique<PlanParser>();  // later writes are the next plan
  f.planDirty = false;
  return st;
}

void FileSystem::release(OpenFile& f) {
  Status st = flush(f);
  (void)st;  // logged by publishPlan; nobody is left to tell
}

Status FileSystem::publishPlan(OpenFile& f) {
  Status st = f.plan->finish();
  if (!st.isOk()) {
    spdlog::warn("plan from pid {} refused: {}", f.stream, st.message());
    std::lock_guard<std::mutex> g(planMu_);
    plans_.rejected++;
    return st;
  }
  if (f.plan->failed()) {
    std::lock_guard<std::mutex> g(planMu_);
    plans_.rejected++;
    return invalid("plan refused: a write failed");
  }
  const std::vector<std::string>& paths = f.plan->paths();
  std::vector<cache::FileRef> files;
  files.reserve(paths.size());
  uint64_t unknown = 0;
  std::vector<std::string> shown;
  for (const std::string& path : paths) {
    // Plan paths are checked to be plain relative paths: they are origin keys as they are.
    auto info = ns_.stat(path);
    if (!info.isOk() || info->type != origin::EntryType::kFile) {
      ++unknown;
      if (shown.size() < kUnknownShown) {
        // Escaped: plan paths are the job's bytes, on their way to the log.
        shown.push_back(printable(path) + (info.isOk() ? " (a directory)" : " (" +
                                                 printable(info.status().message()) + ")"));
      }
      continue;
    }
    files.push_back(cache::FileRef{path, info->etag, info->size});
  }
  const uint64_t blocks = cache_.addPlan(files, f.stream);
  const bool ignored = blocks == 0 && !files.empty();
  {
    std::lock_guard<std::mutex> g(planMu_);
    plans_.published++;
    plans_.paths += paths.size();
    plans_.unknownPaths += unknown;
    if (ignored) plans_.ignored++;
  }
  std::string unknownText;
  for (const std::string& s : shown) unknownText += (unknownText.empty() ? "" : ", ") + s;
  if (unknown > 0) {
    spdlog::warn("plan from pid {}: {} of {} paths skipped as unknown, e.g. {}", f.stream,
                 unknown, paths.size(), unknownText);
  }
  if (ignored) {
    spdlog::info("plan from pid {} ({} files) ignored: policy '{}' does not use plans",
                 f.stream, files.size(), cache_.policyName());
  } else {
    spdlog::info("plan from pid {}: {} files, {} blocks", f.stream, files.size(), blocks);
  }
  return Status::ok();
}

}  // namespace epochfs::fs
