#include "common/Strings.h"

#include <gtest/gtest.h>

namespace epochfs {
namespace {

TEST(StringsTest, LowerTouchesOnlyAsciiCapitals) {
  EXPECT_EQ(lower("Content-Length: X-Amz-Date"), "content-length: x-amz-date");
  EXPECT_EQ(lower(""), "");
  EXPECT_EQ(lower("@[`{ 09az"), "@[`{ 09az");                       // the neighbours of A-Z, a-z
  EXPECT_EQ(lower("\xc3\x89T\xc3\x89"), "\xc3\x89t\xc3\x89");        // UTF-8 "ÉTÉ": É stays
  EXPECT_EQ(lower(std::string_view("A\0B", 3)), std::string("a\0b", 3));
  EXPECT_EQ(lower('Q'), 'q');
  EXPECT_EQ(lower('q'), 'q');
  EXPECT_EQ(lower('\xc9'), '\xc9');  // Latin-1 'É'
}

TEST(StringsTest, TrimStripsSpacesAndTabsByDefault) {
  EXPECT_EQ(trim(" \t a b \t "), "a b");
  EXPECT_EQ(trim("a\r\n"), "a\r\n");  // not blanks unless asked for
  EXPECT_EQ(trim("\va\f"), "\va\f");
  EXPECT_EQ(trimLeft("  a  "), "a  ");
  EXPECT_EQ(trimRight("  a  "), "  a");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t \t"), "");
  EXPECT_EQ(trimLeft(" \t"), "");
  EXPECT_EQ(trimRight(" \t"), "");
}

TEST(StringsTest, TrimStripsTheCharactersItIsGiven) {
  EXPECT_EQ(trim("\r key = v \r", " \t\r"), "key = v");
  EXPECT_EQ(trimRight("value \r\n", " \t\r\n"), "value");
  EXPECT_EQ(trimLeft("\r\nvalue", " \t"), "\r\nvalue");
  EXPECT_EQ(trim("xxaxx", "x"), "a");
  EXPECT_EQ(trim(" a ", ""), " a ");
  EXPECT_EQ(trim(std::string_view("\0a\0", 3), std::string_view("\0", 1)), "a");
}

TEST(StringsTest, TrimReturnsAViewIntoItsArgument) {
  const std::string text = "  abc  ";
  const std::string_view t = trim(text);
  EXPECT_EQ(t.data(), text.data() + 2);
  EXPECT_EQ(t.size(), 3u);
  const std::string blanks = "   ";
  EXPECT_EQ(trimLeft(blanks).data(), blanks.data() + blanks.size());
  EXPECT_EQ(trimRight(blanks).data(), blanks.data());
}

TEST(StringsTest, HexValue) {
  const std::string_view lowerDigits = "0123456789abcdef";
  const std::string_view upperDigits = "0123456789ABCDEF";
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(hexValue(lowerDigits[i]), i) << lowerDigits[i];
    EXPECT_EQ(hexValue(upperDigits[i]), i) << upperDigits[i];
  }
  static constexpr char kNotHex[] = "gGzZ/:@`xX %+-\0\xff";  // the neighbours, and NUL, 0xff
  for (char c : std::string_view(kNotHex, sizeof kNotHex - 1)) {
    EXPECT_EQ(hexValue(c), -1) << static_cast<int>(c);
  }
}

}  // namespace
}  // namespace epochfs
