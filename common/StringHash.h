// common/StringHash.h: a hash for std::string keys that also takes std::string_view, so that
// an unordered container declared with it and std::equal_to<> is looked up by a view without
// building a std::string (C++20 heterogeneous lookup).
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace epochfs {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace epochfs
