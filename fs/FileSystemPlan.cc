// fs/FileSystemPlan.cc: plans sent through ioctls on .epochfs/plan (fs/ControlIoctl.h).
//
// A plan is published only by an explicit commit, never by close: a client that dies half
// way through sending one leaves nothing behind, and a client that sends it in many chunks
// (a restricted FUSE ioctl carries at most 16 KiB) still publishes it as one plan.
#include <malloc.h>

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/Printable.h"

#include "fs/FileSystem.h"

namespace epochfs::fs {
namespace {

// Unknown paths named in the log, at most.
constexpr size_t kUnknownShown = 3;
// Files resolved before their blocks are handed to the cache: a plan is never held whole as
// FileRefs (~150 bytes each), and the cache's lock is taken per slice.
constexpr size_t kResolveSlice = 4096;

}  // namespace

Status FileSystem::planAppend(OpenFile& f, std::string_view text) {
  const bool wasBroken = f.plan->failed();
  Status st = f.plan->feed(text);
  if (!st.isOk() && !wasBroken) {
    // Counted once per plan, when it breaks; later appends repeat the same error.
    spdlog::warn("plan from pid {} refused: {}", f.stream, st.message());
    std::lock_guard<std::mutex> g(planMu_);
    plans_.rejected++;
  }
  return st;
}

void FileSystem::planAbort(OpenFile& f) {
  f.plan = std::make_unique<PlanParser>();
  f.planResumes = false;
}

void FileSystem::planRelease(const OpenFile& f) {
  if (!f.plan || f.plan->failed() || f.plan->lines() == 0) return;
  spdlog::info("plan from pid {} discarded: closed after {} lines without a commit", f.stream,
               f.plan->lines());
}

Result<PlanResult> FileSystem::planCommit(OpenFile& f) {
  // Whatever happens, the next append starts the next plan.
  std::unique_ptr<PlanParser> plan = std::exchange(f.plan, std::make_unique<PlanParser>());
  const bool resumes = std::exchange(f.planResumes, false);
  const bool wasBroken = plan->failed();
  Status st = plan->finish();
  if (!st.isOk()) {
    if (!wasBroken) {
      spdlog::warn("plan from pid {} refused: {}", f.stream, st.message());
      std::lock_guard<std::mutex> g(planMu_);
      plans_.rejected++;
    }
    return st;
  }
  // Nothing sent since the last commit; but an empty rest of an epoch still ends its plan.
  if (plan->lines() == 0 && !resumes) return PlanResult{};
  const uint64_t pathCount = plan->pathCount();
  cache::BlockCache::PlanOrder order;
  order.resumes = resumes;
  std::vector<cache::FileRef> files;  // one slice at a time
  files.reserve(std::min<uint64_t>(pathCount, kResolveSlice));
  // Ranges of one file named on consecutive lines (records of a large file), resolved once.
  std::optional<cache::FileRef> rangeFile;
  std::vector<cache::BlockCache::ByteRange> ranges;
  // The files named in ranges, counted once each (a plan of shards read by several streams
  // at once alternates between them line by line).
  std::unordered_set<std::string> rangeFiles;
  // Hands what was resolved to the cache, in plan order.
  const auto planFiles = [&] {
    cache_.planFiles(files, order);
    files.clear();
  };
  const auto planRanges = [&] {
    if (rangeFile && !ranges.empty()) cache_.planRanges(*rangeFile, ranges, order);
    ranges.clear();
  };
  uint64_t unknown = 0;
  uint64_t rangeCount = 0;
  std::vector<std::string> shown;
  const auto skip = [&](std::string_view path, const std::string& why) {
    ++unknown;
    // Escaped: plan paths are the job's bytes, on their way to the log.
    if (shown.size() < kUnknownShown) shown.push_back(printable(path) + " (" + why + ")");
  };
  for (size_t i = 0; i < pathCount; ++i) {
    const std::string_view path = plan->path(i);
    const PlanParser::Range range = plan->range(i);
    if (range.whole() || !rangeFile || rangeFile->key != path) {
      // Plan paths are checked to be plain relative paths: they are origin keys as they are.
      auto info = ns_.stat(path);
      if (!info.isOk() || info->type != origin::EntryType::kFile) {
        skip(path, info.isOk() ? "a directory" : printable(info.status().message()));
        continue;
      }
      cache::FileRef file{std::string(path), std::move(info->etag), info->size};
      if (range.whole()) {
        planRanges();
        files.push_back(std::move(file));
        if (files.size() == kResolveSlice) planFiles();
        continue;
      }
      planFiles();
      planRanges();
      rangeFile = std::move(file);
      if (rangeFiles.insert(rangeFile->key).second) order.files++;
    }
    if (range.offset >= rangeFile->size) {
      skip(path, "a range at " + std::to_string(range.offset) + ", past its end at " +
                     std::to_string(rangeFile->size));
      continue;
    }
    ranges.push_back({range.offset, range.length});
    ++rangeCount;
    if (ranges.size() == kResolveSlice) planRanges();
  }
  planFiles();
  planRanges();
  files = {};
  plan.reset();  // the text goes before the policy builds its copy
  const uint64_t fileCount = order.files;
  const uint64_t blocks = cache_.publishPlan(std::move(order), f.stream);
  // The text and the block list of a big plan were transient: hand the memory back to the
  // system now (glibc keeps freed memory for reuse otherwise, and the daemon's RSS would stay
  // at the plan's peak). A few milliseconds once per plan.
  malloc_trim(0);
  const bool ignored = blocks == 0 && fileCount > 0;
  {
    std::lock_guard<std::mutex> g(planMu_);
    plans_.published++;
    plans_.paths += pathCount;
    plans_.unknownPaths += unknown;
    if (ignored) plans_.ignored++;
  }
  std::string unknownText;
  for (const std::string& s : shown) unknownText += (unknownText.empty() ? "" : ", ") + s;
  if (unknown > 0) {
    spdlog::warn("plan from pid {}: {} of {} paths skipped as unknown, e.g. {}", f.stream,
                 unknown, pathCount, unknownText);
  }
  if (ignored) {
    spdlog::info("plan from pid {} ({} files) ignored: policy '{}' does not use plans",
                 f.stream, fileCount, cache_.policyName());
  } else {
    spdlog::info("plan from pid {}{}: {} files{}, {} blocks", f.stream,
                 resumes ? " (the rest of the current epoch: resuming)" : "", fileCount,
                 rangeCount == 0 ? "" : " (" + std::to_string(rangeCount) + " ranges)", blocks);
  }
  PlanResult r;
  r.paths = pathCount;
  r.unknownPaths = unknown;
  r.files = fileCount;
  r.blocks = blocks;
  r.ignored = ignored ? 1 : 0;
  return r;
}

}  // namespace epochfs::fs
