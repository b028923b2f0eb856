// `epochfs plan`: publishes a plan (one path per line) from a file or stdin, for shell users:
// the chunks of kIocPlanAppend, then kIocPlanCommit. Paths are relative to the mount root, or
// absolute under the mountpoint (as `find /mnt/data -type f` prints them; the Python package
// accepts both too); the daemon checks everything else and names a bad line.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "cli/Commands.h"
#include "cli/ControlClient.h"
#include "cli/ControlFile.h"
#include "fs/ControlIoctl.h"

namespace epochfs::cli {
namespace {

// Turns the lines of the input into plan text and sends it in full chunks.
class PlanSender {
 public:
  PlanSender(ControlFile& control, const std::string& mountpoint, bool resume)
      : control_(control), mountpoint_(mountpoint) {
    chunk_->flags = resume ? fs::kPlanResumes : 0;
    prefixes_.push_back(mountpoint == "/" ? "/" : mountpoint + "/");
    std::error_code ec;
    std::string real = std::filesystem::canonical(mountpoint, ec).string();
    if (!ec && real != mountpoint) prefixes_.push_back(real == "/" ? "/" : real + "/");
  }

  // Adds one input line (without its "\n"), numbered `lineNo` for errors.
  Status addLine(const std::string& line, uint64_t lineNo) {
    std::string_view path = line;
    if (!path.empty() && path.front() == '/') {
      auto rel = relative(path);
      if (!rel) {
        return invalid(fmt::format("line {} ('{}'): absolute but not under the mountpoint {}",
                                   lineNo, line.substr(0, 200), mountpoint_));
      }
      path = *rel;
    }
    text_.append(path);
    text_.push_back('\n');
    while (text_.size() >= fs::kPlanChunkBytes) EPOCHFS_RETURN_IF_ERROR(sendChunk());
    return Status::ok();
  }

  Result<fs::PlanResult> commit() {
    // An empty rest of an epoch still resumes: one empty chunk carries the flag.
    if (chunk_->flags != 0 && !sent_ && text_.empty()) EPOCHFS_RETURN_IF_ERROR(sendChunk());
    while (!text_.empty()) EPOCHFS_RETURN_IF_ERROR(sendChunk());
    fs::PlanResult result;
    EPOCHFS_RETURN_IF_ERROR(control_.call(fs::kIocPlanCommit, &result));
    return result;
  }

 private:
  std::optional<std::string_view> relative(std::string_view path) const {
    for (const std::string& prefix : prefixes_) {
      if (path.substr(0, prefix.size()) == prefix) return path.substr(prefix.size());
    }
    return std::nullopt;
  }

  Status sendChunk() {
    const size_t n = std::min(text_.size(), fs::kPlanChunkBytes);
    chunk_->length = static_cast<uint32_t>(n);
    text_.copy(chunk_->data, n);
    text_.erase(0, n);
    sent_ = true;
    return control_.call(fs::kIocPlanAppend, chunk_.get());
  }

  ControlFile& control_;
  const std::string mountpoint_;
  std::vector<std::string> prefixes_;  // the mountpoint as given, and its real path
  std::string text_;  // plan text not sent yet, less than a chunk between calls
  bool sent_ = false;  // a chunk went out
  std::unique_ptr<fs::PlanChunk> chunk_ = std::make_unique<fs::PlanChunk>();
};

void printResult(const fs::PlanResult& r, const std::string& mp) {
  if (r.ignored != 0) {
    std::cout << fmt::format("plan of {} paths published to {}; ignored: the policy does not "
                             "use plans\n", r.paths, mp);
    return;
  }
  std::cout << fmt::format("plan of {} paths published to {}: {} files, {} blocks planned",
                           r.paths, mp, r.files, r.blocks);
  if (r.unknownPaths > 0) std::cout << fmt::format(", {} unknown paths skipped", r.unknownPaths);
  std::cout << "\n";
}

}  // namespace

int runPlan(const std::string& mountpoint, const std::string& file, bool resume) {
  std::string mp = absolutePath(mountpoint);
  if (!isEpochfsMount(mp)) {
    std::cerr << "epochfs: " << mp << " is not an epochfs mount\n";
    return 1;
  }
  const bool fromStdin = file == "-";
  std::ifstream in;
  if (!fromStdin) {
    in.open(file);
    if (!in) {
      std::cerr << "epochfs: cannot open " << file << ": " << strerror(errno) << "\n";
      return 1;
    }
  }
  std::istream& input = fromStdin ? std::cin : in;
  auto control = ControlFile::open(mp, "plan");
  if (!control.isOk()) {
    std::cerr << "epochfs: " << control.status().message() << "\n";
    return 1;
  }
  // On any failure nothing is published: the plan file closes without a commit.
  PlanSender sender(*control, mp, resume);
  std::string line;
  uint64_t lineNo = 0;
  Status st;
  while (st.isOk() && std::getline(input, line)) st = sender.addLine(line, ++lineNo);
  if (st.isOk() && input.bad()) {
    st = ioError("reading " + (fromStdin ? std::string("stdin") : file) + " failed");
  }
  Result<fs::PlanResult> result = st.isOk() ? sender.commit() : Result<fs::PlanResult>(st);
  if (!result.isOk()) {
    std::cerr << "epochfs: plan not published: " << result.status().message() << "\n";
    return 1;
  }
  printResult(*result, mp);
  return 0;
}

}  // namespace epochfs::cli
