// config/Size.cc: parseSize() and formatSize().
//
// Sizes are parsed with integer arithmetic only: "1.1GB" must be exactly 1100000000 bytes, and
// a double cannot promise that (nor detect overflow near 2^64). A number is split into its
// integer digits and at most 18 fraction digits; value = (int * 10^d + frac) * unit / 10^d,
// computed in 128 bits so that neither the product nor the overflow check can wrap.
#include <array>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/Strings.h"
#include "config/ConfigLoader.h"

namespace epochfs::config {
namespace {

__extension__ typedef unsigned __int128 Uint128;  // GCC/Clang; -Wpedantic wants __extension__

struct Unit {
  std::string_view name;
  uint64_t bytes;
};

// In the order docs/config.md lists them. The whole suffix must match one name exactly.
constexpr std::array<Unit, 9> kUnits = {{
    {"B", 1},
    {"KiB", kKiB},
    {"MiB", kMiB},
    {"GiB", kGiB},
    {"TiB", kTiB},
    {"KB", 1000ULL},
    {"MB", 1000ULL * 1000},
    {"GB", 1000ULL * 1000 * 1000},
    {"TB", 1000ULL * 1000 * 1000 * 1000},
}};

constexpr int kMaxFractionDigits = 18;  // 10^18 < 2^64, and 10^18 * 2^40 < 2^128

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string quote(std::string_view text) { return "'" + std::string(text) + "'"; }

Status notASize(std::string_view text) {
  return invalid(quote(text) + " is not a size (use e.g. 20MiB, 500GiB or plain bytes)");
}

// A hint for the commonest near-misses: wrong case ("20mib", "1gb") and one-letter units
// ("20k", "4M", "1G"), which people mean as binary more often than not but which we refuse to
// guess about.
Status badUnit(std::string_view text, std::string_view number, std::string_view unit) {
  for (const Unit& u : kUnits) {
    if (equalsIgnoringCase(unit, u.name)) {
      return invalid(quote(text) + " is not a size: units are case-sensitive (did you mean '" +
                     std::string(number) + std::string(u.name) + "'?)");
    }
  }
  if (unit.size() == 1 && std::string_view("kKmMgGtT").find(unit[0]) != std::string_view::npos) {
    const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    return invalid(quote(text) + " is not a size: write the unit in full ('" +
                   std::string(number) + upper + "iB' for binary, '" + std::string(number) +
                   upper + "B' for decimal)");
  }
  return notASize(text);
}

}  // namespace

Result<uint64_t> parseSize(std::string_view text) {
  const std::string_view s = trim(text);
  if (s.empty()) return notASize(text);

  size_t pos = 0;
  uint64_t integer = 0;
  bool overflow = false;
  while (pos < s.size() && isDigit(s[pos])) {
    const uint64_t digit = static_cast<uint64_t>(s[pos] - '0');
    if (__builtin_mul_overflow(integer, 10, &integer) ||
        __builtin_add_overflow(integer, digit, &integer)) {
      overflow = true;
    }
    ++pos;
  }
  if (pos == 0) return notASize(text);  // no leading digit: "-5", "+5", ".5", "GiB"

  uint64_t fraction = 0;
  int fractionDigits = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && isDigit(s[pos])) {
      if (fractionDigits == kMaxFractionDigits) {
        return invalid(quote(text) + " is not a size: too many digits after the point");
      }
      fraction = fraction * 10 + static_cast<uint64_t>(s[pos] - '0');
      ++fractionDigits;
      ++pos;
    }
    if (pos == start) return notASize(text);  // "1." or "1.GiB"
  }
  const std::string_view number = s.substr(0, pos);

  const std::string_view unitText = trimLeft(s.substr(pos));
  uint64_t unit = 1;
  if (unitText.empty()) {
    if (fractionDigits > 0) {
      return invalid(quote(text) + " is not a size: a fraction needs a unit (e.g. " +
                     std::string(number) + "GiB); plain bytes are whole numbers");
    }
  } else {
    const Unit* found = nullptr;
    for (const Unit& u : kUnits) {
      if (unitText == u.name) found = &u;
    }
    if (found == nullptr) return badUnit(text, number, unitText);
    if (found->bytes == 1 && fractionDigits > 0) {
      return invalid(quote(text) + " is not a size: bytes are whole numbers");
    }
    unit = found->bytes;
  }

  if (overflow) {
    return invalid(quote(text) + " is too large (at most 18446744073709551615 bytes, 16 EiB)");
  }
  Uint128 scale = 1;
  for (int i = 0; i < fractionDigits; ++i) scale *= 10;
  // integer < 2^64 and unit <= 2^40, so integer * unit < 2^104: no wrap. Likewise the fraction.
  const Uint128 bytes = static_cast<Uint128>(integer) * unit +
                        static_cast<Uint128>(fraction) * unit / scale;
  if (bytes > std::numeric_limits<uint64_t>::max()) {
    return invalid(quote(text) + " is too large (at most 18446744073709551615 bytes, 16 EiB)");
  }
  return static_cast<uint64_t>(bytes);
}

std::string formatSize(uint64_t bytes) {
  static constexpr std::array<Unit, 5> kBinary = {{
      {"B", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}, {"TiB", kTiB}}};
  size_t i = kBinary.size() - 1;
  while (i > 0 && bytes < kBinary[i].bytes) --i;
  const Unit& u = kBinary[i];

  // Hundredths of the unit, rounded half up; 128 bits because bytes * 100 may exceed 2^64.
  const Uint128 hundredths = (static_cast<Uint128>(bytes) * 100 + u.bytes / 2) / u.bytes;
  const auto whole = static_cast<uint64_t>(hundredths / 100);
  const auto cents = static_cast<unsigned>(hundredths % 100);
  std::string out = std::to_string(whole);
  if (cents != 0) {
    out += '.';
    out += static_cast<char>('0' + cents / 10);
    if (cents % 10 != 0) out += static_cast<char>('0' + cents % 10);
  }
  out += ' ';
  out += u.name;
  return out;
}

}  // namespace epochfs::config
