#include "common/Printable.h"

#include <gtest/gtest.h>

namespace epochfs {
namespace {

TEST(PrintableTest, PlainTextAndUtf8PassUnchanged) {
  EXPECT_EQ(printable("train/n01440764/a b+c%.JPEG"), "train/n01440764/a b+c%.JPEG");
  EXPECT_EQ(printable("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x90\xb1"),
            "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x90\xb1");
}

TEST(PrintableTest, ControlBytesAndBidiOverridesAreEscaped) {
  EXPECT_EQ(printable(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printable("\x1b[31mred\n\r\t\x7f"), "\\x1b[31mred\\x0a\\x0d\\x09\\x7f");
  EXPECT_EQ(printable("evil\xe2\x80\xaegpj.exe"), "evil\\u202egpj.exe");  // U+202E
  EXPECT_EQ(printable("\xe2\x81\xa6x"), "\\u2066x");                       // U+2066
  EXPECT_EQ(printable("\xc2\x85"), "\\u0085");                             // C1 control NEL
}

TEST(PrintableTest, InvalidUtf8IsEscapedBytewiseAndEscapesCannotBeForged) {
  EXPECT_EQ(printable("\xff\xc3"), "\\xff\\xc3");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(printable("\\x00"), "\\\\x00");
}

}  // namespace
}  // namespace epochfs
