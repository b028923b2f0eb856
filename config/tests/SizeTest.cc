#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "config/ConfigLoader.h"

namespace epochfs::config {
namespace {

uint64_t sizeOf(std::string_view text) {
  Result<uint64_t> r = parseSize(text);
  EXPECT_TRUE(r.isOk()) << "'" << text << "': " << r.status().toString();
  return r.isOk() ? *r : 0;
}

std::string errorOf(std::string_view text) {
  Result<uint64_t> r = parseSize(text);
  EXPECT_FALSE(r.isOk()) << "'" << text << "' parsed as " << (r.isOk() ? *r : 0);
  if (r.isOk()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  return r.status().message();
}

TEST(ParseSizeTest, PlainBytes) {
  EXPECT_EQ(sizeOf("0"), 0u);
  EXPECT_EQ(sizeOf("1048576"), 1048576u);
  EXPECT_EQ(sizeOf("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(sizeOf("  42 "), 42u);
}

TEST(ParseSizeTest, BinaryAndDecimalUnits) {
  EXPECT_EQ(sizeOf("512B"), 512u);
  EXPECT_EQ(sizeOf("4KiB"), 4 * kKiB);
  EXPECT_EQ(sizeOf("20MiB"), 20 * kMiB);
  EXPECT_EQ(sizeOf("500GiB"), 500 * kGiB);
  EXPECT_EQ(sizeOf("2TiB"), 2 * kTiB);
  EXPECT_EQ(sizeOf("1KB"), 1000u);
  EXPECT_EQ(sizeOf("3MB"), 3000000u);
  EXPECT_EQ(sizeOf("5GB"), 5000000000u);
  EXPECT_EQ(sizeOf("7TB"), 7000000000000u);
}

TEST(ParseSizeTest, OptionalSpaceBeforeUnit) {
  EXPECT_EQ(sizeOf("20 MiB"), 20 * kMiB);
  EXPECT_EQ(sizeOf("1\tGB"), 1000000000u);
}

TEST(ParseSizeTest, FractionsWithUnitAreExact) {
  EXPECT_EQ(sizeOf("1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(sizeOf("1.1GB"), 1100000000u);  // a double would say 1100000000.0000002
  EXPECT_EQ(sizeOf("0.25 TiB"), kTiB / 4);
  EXPECT_EQ(sizeOf("0.1KiB"), 102u);  // 102.4, rounded down
  EXPECT_EQ(sizeOf("2.000000000000000000MiB"), 2 * kMiB);
}

TEST(ParseSizeTest, RejectsMalformed) {
  for (const char* bad : {"", "   ", "-5", "+5", "abc", "GiB", ".5GiB", "1.", "1.GiB", "1..5GiB",
                          "10XB", "10 XB", "20MiBs", "1 2MiB", "0x10", "1e9", "1_000", "20 MiB x",
                          "5 B B"}) {
    SCOPED_TRACE(bad);
    const std::string msg = errorOf(bad);
    EXPECT_NE(msg.find("'" + std::string(bad) + "'"), std::string::npos) << msg;
  }
}

TEST(ParseSizeTest, MessageShowsExamples) {
  EXPECT_EQ(errorOf("10XB"), "'10XB' is not a size (use e.g. 20MiB, 500GiB or plain bytes)");
}

TEST(ParseSizeTest, FractionNeedsAUnitOtherThanBytes) {
  EXPECT_NE(errorOf("1.5").find("a fraction needs a unit"), std::string::npos);
  EXPECT_NE(errorOf("1.5B").find("whole numbers"), std::string::npos);
}

TEST(ParseSizeTest, UnitsAreCaseSensitiveWithAHint) {
  EXPECT_NE(errorOf("20mib").find("did you mean '20MiB'"), std::string::npos);
  EXPECT_NE(errorOf("1gb").find("did you mean '1GB'"), std::string::npos);
  EXPECT_NE(errorOf("20 kib").find("did you mean '20KiB'"), std::string::npos);
  const std::string k = errorOf("20k");
  EXPECT_NE(k.find("'20KiB' for binary"), std::string::npos) << k;
  EXPECT_NE(k.find("'20KB' for decimal"), std::string::npos) << k;
  EXPECT_NE(errorOf("4G").find("'4GiB'"), std::string::npos);
}

TEST(ParseSizeTest, Overflow) {
  for (const char* big : {"18446744073709551616", "99999999999999999999999", "16777216TiB",
                          "18446744.073709551616TB", "20000000TB", "99999999999999999999 B"}) {
    SCOPED_TRACE(big);
    EXPECT_NE(errorOf(big).find("too large"), std::string::npos);
  }
  EXPECT_EQ(sizeOf("16777215TiB"), 16777215 * kTiB);
  EXPECT_EQ(sizeOf("18446744.073709551615TB"), std::numeric_limits<uint64_t>::max());
}

TEST(ParseSizeTest, TooManyFractionDigits) {
  EXPECT_NE(errorOf("1.0000000000000000001GiB").find("too many digits"), std::string::npos);
}

TEST(FormatSizeTest, ForPeople) {
  EXPECT_EQ(formatSize(0), "0 B");
  EXPECT_EQ(formatSize(512), "512 B");
  EXPECT_EQ(formatSize(1023), "1023 B");
  EXPECT_EQ(formatSize(kKiB), "1 KiB");
  EXPECT_EQ(formatSize(20 * kMiB), "20 MiB");
  EXPECT_EQ(formatSize(3 * kGiB / 2), "1.5 GiB");
  EXPECT_EQ(formatSize(5 * kGiB / 4), "1.25 GiB");
  EXPECT_EQ(formatSize(kGiB + 1), "1 GiB");  // rounds to two decimals
  EXPECT_EQ(formatSize(3 * kTiB), "3 TiB");
  EXPECT_EQ(formatSize(4096 * kTiB), "4096 TiB");
  EXPECT_EQ(formatSize(std::numeric_limits<uint64_t>::max()), "16777216 TiB");
}

TEST(FormatSizeTest, ExactMultiplesRoundTrip) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{999}, 64 * kKiB, 4 * kMiB, 10 * kGiB,
                     7 * kTiB, 100000 * kTiB}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(sizeOf(formatSize(v)), v);
  }
}

}  // namespace
}  // namespace epochfs::config
