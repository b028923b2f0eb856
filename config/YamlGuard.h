// config/YamlGuard.h: what yaml-cpp 0.7 (Debian 12) must not be given, checked before it is.
//
// Found by test/fuzz/ConfigFuzz.cc: a document whose first token is ',' makes YAML::LoadAll
// loop forever, growing memory (`epochfs mount --config` hung); flow collections nested a few
// thousand deep end in yaml-cpp's "bad file", which names nothing. Neither is a valid config,
// so both are refused here with the line: a document starting with ',', and '[' / '{' nested
// deeper than kMaxYamlNesting (an epochfs config needs two levels). A light scan, not a YAML
// lexer: quotes and comments are skipped, block scalars are not recognised.
//
// The ',' loop is in YAML::LoadAll itself (yaml-cpp #1040, fixed upstream by #1319 after
// 0.7): a ',' the parser cannot place (also "- a\n,b", "\"a\" ,b", "! ,x") is never
// consumed, and every further call of Parser::HandleNextDocument reports another empty
// document. So documents are counted by yamlDocumentStarts(), which stops after `max`, and
// the config is read with YAML::Load (one document, no loop).
#pragma once

#include <yaml-cpp/mark.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace epochfs::config {

inline constexpr int kMaxYamlNesting = 32;

// (line, problem) for each problem found, lines from 1; empty when yaml-cpp may parse it.
std::vector<std::pair<int, std::string>> yamlHazards(std::string_view yaml);

// Where each of the first `max` documents of `yaml` starts (a document's '---' line, or its
// first token). Throws YAML::Exception as YAML::Load would.
std::vector<YAML::Mark> yamlDocumentStarts(std::string_view yaml, size_t max);

}  // namespace epochfs::config
