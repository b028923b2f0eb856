// config/Suggest.cc: edit distance for did-you-mean hints.
//
// Keys are short (under 16 characters), so the O(n*m) table is nothing; we keep the whole
// table rather than two rows to allow the transposition case ("szie" -> "size").
#include "config/Suggest.h"

#include <algorithm>
#include <vector>

#include "common/Strings.h"

namespace epochfs::config {
namespace {

char fold(char c) { return c == '-' ? '_' : lower(c); }

}  // namespace

size_t editDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

bool looksLike(std::string_view typed, std::string_view known) {
  const size_t dist = editDistance(typed, known);
  return dist <= 2 && dist * 3 <= known.size();
}

}  // namespace epochfs::config
