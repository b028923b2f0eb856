// fs/PlanParser.cc
#include "fs/PlanParser.h"

#include "common/Printable.h"

namespace epochfs::fs {
namespace {

// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// A decimal number of `s`'s whole text (digits only, no sign, no overflow).
bool parseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// The range of a line "path<TAB>offset<TAB>length" after its path (`rest`: what follows the
// first TAB), or why it is none.
Status parseRange(std::string_view rest, PlanParser::Range& r) {
  const size_t tab = rest.find('\t');
  if (tab == std::string_view::npos) {
    return invalid("a TAB after the path must be followed by offset<TAB>length");
  }
  const std::string_view off = rest.substr(0, tab);
  const std::string_view len = rest.substr(tab + 1);
  if (len.find('\t') != std::string_view::npos) {
    return invalid("more than three TAB-separated fields (path<TAB>offset<TAB>length)");
  }
  if (!parseDecimal(off, r.offset)) {
    return invalid("offset '" + printable(off.substr(0, 40)) + "' is not a decimal number");
  }
  if (!parseDecimal(len, r.length)) {
    return invalid("length '" + printable(len.substr(0, 40)) + "' is not a decimal number");
  }
  if (r.length == 0) return invalid("length 0 (a range names at least one byte)");
  if (r.offset > UINT64_MAX - r.length) return invalid("offset + length overflows");
  return Status::ok();
}

}  // namespace

Status checkPlanPath(std::string_view path) {
  if (path.size() > kMaxPathBytes) {
    return invalid("path longer than " + std::to_string(kMaxPathBytes) + " bytes");
  }
  if (path.empty()) return invalid("empty path");
  if (path.find('\0') != std::string_view::npos) return invalid("path contains a NUL byte");
  if (path.front() == '/') return invalid("absolute path (paths are relative to the mount root)");
  if (!validUtf8(path)) return invalid("path is not valid UTF-8");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty()) return invalid("empty path component ('//' or a trailing '/')");
    if (comp == "." || comp == "..") {
      return invalid("'" + std::string(comp) + "' component (paths must be plain)");
    }
    start = end + 1;
  }
  return Status::ok();
}

Status PlanParser::parseLine(std::string_view line) {
  ++line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxLineBytes) {  // comments too, however the writes split them
    return invalid("line " + std::to_string(line_) + ": longer than " +
                   std::to_string(kMaxLineBytes) + " bytes");
  }
  if (line.empty() || line.front() == '#') return Status::ok();
  std::string_view path = line;
  Range range = kWhole;
  Status st;
  if (const size_t tab = line.find('\t'); tab != std::string_view::npos) {
    path = line.substr(0, tab);
    st = parseRange(line.substr(tab + 1), range);
  }
  if (st.isOk()) st = checkPlanPath(path);
  if (!st.isOk()) {
    // Escaped: the line goes to the writer's errno message and to the log.
    const std::string shown = printable(line.substr(0, 200));
    return invalid("line " + std::to_string(line_) + " ('" + shown + "'): " + st.message());
  }
  // ranges_ is kept once the first range comes (the entries before it: whole files).
  if (!range.whole() && ranges_.empty()) ranges_.assign(ends_.size(), kWhole);
  text_.append(path);
  ends_.push_back(static_cast<uint32_t>(text_.size()));
  if (!ranges_.empty() || !range.whole()) ranges_.push_back(range);
  return Status::ok();
}

std::vector<std::string> PlanParser::paths() const {
  std::vector<std::string> out;
  out.reserve(pathCount());
  for (size_t i = 0; i < pathCount(); ++i) out.emplace_back(path(i));
  return out;
}

Status PlanParser::feed(std::string_view data) {
  if (!error_.isOk()) return error_;
  bytes_ += data.size();
  if (bytes_ > kMaxPlanBytes) {
    error_ = invalid("plan larger than " + std::to_string(kMaxPlanBytes >> 20) + " MiB");
    return error_;
  }
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) {
      partial_.append(data.substr(pos));
      if (partial_.size() > kMaxLineBytes + 1) {
        error_ = invalid("line " + std::to_string(line_ + 1) + ": longer than " +
                         std::to_string(kMaxLineBytes) + " bytes");
        return error_;
      }
      break;
    }
    Status st;
    if (partial_.empty()) {
      st = parseLine(data.substr(pos, nl - pos));
    } else {
      partial_.append(data.substr(pos, nl - pos));
      st = parseLine(partial_);
      partial_.clear();
    }
    if (!st.isOk()) {
      error_ = st;
      return error_;
    }
    pos = nl + 1;
  }
  return Status::ok();
}

Status PlanParser::finish() {
  if (!error_.isOk()) return error_;
  if (partial_.empty()) return Status::ok();
  std::string last = std::move(partial_);
  partial_.clear();
  error_ = parseLine(last);
  return error_;
}

}  // namespace epochfs::fs
