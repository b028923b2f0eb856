// config/Suggest.h: "did you mean" for misspelt keys, internal to config/.
#pragma once

#include <cstddef>
#include <string_view>

namespace epochfs::config {

// Optimal-string-alignment distance (insertions, deletions, substitutions and transpositions
// of neighbours each cost 1), ignoring ASCII case and treating '-' as '_'.
size_t editDistance(std::string_view a, std::string_view b);

// True if `typed` is probably a misspelling of `known`: at most 2 edits, and at most one per
// three characters of `known`, so that short names do not match everything.
bool looksLike(std::string_view typed, std::string_view known);

}  // namespace epochfs::config
