#include "config/YamlGuard.h"

#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace epochfs::config {
namespace {

// Notes where documents start; ignores everything else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

bool isMarker(std::string_view line, std::string_view marker) {
  return line.starts_with(marker) &&
         (line.size() == marker.size() || line[marker.size()] == ' ' || line[marker.size()] == '\t');
}

}  // namespace

std::vector<std::pair<int, std::string>> yamlHazards(std::string_view yaml) {
  std::vector<std::pair<int, std::string>> out;
  bool documentStarted = false;  // a token of the current document was seen
  int depth = 0;
  bool depthReported = false;
  char quote = 0;  // inside a quoted scalar (may span lines)
  int lineNo = 0;
  size_t begin = 0;
  while (begin < yaml.size()) {
    size_t end = yaml.find('\n', begin);
    if (end == std::string_view::npos) end = yaml.size();
    std::string_view line = yaml.substr(begin, end - begin);
    begin = end + 1;
    ++lineNo;
    size_t i = 0;
    if (quote == 0) {
      if (isMarker(line, "...")) {
        documentStarted = false;
        continue;
      }
      if (isMarker(line, "---")) {
        documentStarted = false;
        i = 3;
      }
    }
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (quote != 0) {
        if (quote == '"' && c == '\\') {
          ++i;
        } else if (c == quote) {
          if (quote == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
            ++i;  // '' inside a single-quoted scalar
          } else {
            quote = 0;
          }
        }
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') continue;
      if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) break;
      if (!documentStarted) {
        if (c == '!' || c == '&') {
          // A tag or an anchor: a property of the document's first node, not yet its content
          // (yaml-cpp loops on "! ," and "&a ," as on a bare ','). It ends at a blank or ','.
          while (i + 1 < line.size() && line[i + 1] != ' ' && line[i + 1] != '\t' &&
                 line[i + 1] != ',') {
            ++i;
          }
          continue;
        }
        documentStarted = true;
        if (c == ',') {
          out.emplace_back(lineNo, "a YAML document cannot start with ','");
        }
      }
      if (c == '"' || c == '\'') {
        // Quotes open a scalar only where one may start; inside a plain scalar they are text.
        const char before = i == 0 ? ' ' : line[i - 1];
        if (before == ' ' || before == '\t' || before == '[' || before == '{' || before == ',' ||
            before == ':') {
          quote = c;
        }
      } else if (c == '[' || c == '{') {
        if (++depth > kMaxYamlNesting && !depthReported) {
          depthReported = true;
          out.emplace_back(lineNo, "'[' and '{' nested deeper than " +
                                       std::to_string(kMaxYamlNesting) + " levels");
        }
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
      }
    }
  }
  return out;
}

std::vector<YAML::Mark> yamlDocumentStarts(std::string_view yaml, size_t max) {
  std::istringstream in{std::string(yaml)};
  YAML::Parser parser(in);
  DocumentStarts starts;
  while (starts.marks.size() < max && parser.HandleNextDocument(starts)) {
  }
  return starts.marks;
}

}  // namespace epochfs::config
