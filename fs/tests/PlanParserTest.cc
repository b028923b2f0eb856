// PlanParser: the text a training job writes to .epochfs/plan, fed in arbitrary pieces.
#include "fs/PlanParser.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace epochfs::fs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Paths = std::vector<std::string>;

// Feeds `text` in pieces of `piece` bytes (0: all at once), then finishes.
Status parseIn(PlanParser& p, const std::string& text, size_t piece = 0) {
  if (piece == 0) piece = text.size() + 1;
  for (size_t at = 0; at < text.size(); at += piece) {
    Status st = p.feed(std::string_view(text).substr(at, piece));
    if (!st.isOk()) return st;
  }
  return p.finish();
}

TEST(PlanParserTest, ValidPlanWithCommentsEmptyLinesAndCrlf) {
  const std::string text =
      "# epoch 3 of rank 0\n"
      "cls/a.jpg\n"
      "\n"
      "cls/b c.jpg\r\n"  // CRLF, a space in the name
      "\r\n"             // an empty CRLF line
      "  # not a comment: a name starting with spaces\n"
      "a#b/c\n"
      "last/without/newline";
  const Paths want = {"cls/a.jpg", "cls/b c.jpg", "  # not a comment: a name starting with spaces",
                      "a#b/c", "last/without/newline"};
  // Any split into pieces gives the same plan, down to one byte per feed().
  for (size_t piece : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}}) {
    PlanParser p;
    Status st = parseIn(p, text, piece);
    ASSERT_TRUE(st.isOk()) << "piece " << piece << ": " << st.toString();
    EXPECT_EQ(p.paths(), want) << "piece " << piece;
    EXPECT_EQ(p.lines(), 8u) << "piece " << piece;
    EXPECT_FALSE(p.failed());
  }
}

// A line may name a byte range of its file; a plan of whole files and ranges mixed keeps both.
TEST(PlanParserTest, RangesOfFilesBesideWholeFiles) {
  const std::string text =
      "whole/a.jpg\n"
      "big.h5\t196608\t196608\r\n"
      "# a comment\n"
      "whole/b.jpg\n"
      "big.h5\t0\t18446744073709551615\n"
      "sp ace.lmdb\t4096\t1";
  for (size_t piece : {size_t{0}, size_t{1}, size_t{5}}) {
    PlanParser p;
    Status st = parseIn(p, text, piece);
    ASSERT_TRUE(st.isOk()) << "piece " << piece << ": " << st.toString();
    EXPECT_EQ(p.paths(), (Paths{"whole/a.jpg", "big.h5", "whole/b.jpg", "big.h5", "sp ace.lmdb"}));
    EXPECT_TRUE(p.range(0).whole());
    EXPECT_EQ(p.range(1).offset, 196608u);
    EXPECT_EQ(p.range(1).length, 196608u);
    EXPECT_TRUE(p.range(2).whole());
    EXPECT_EQ(p.range(3).offset, 0u);
    EXPECT_EQ(p.range(3).length, UINT64_MAX);
    EXPECT_EQ(p.range(4).offset, 4096u);
    EXPECT_EQ(p.range(4).length, 1u);
  }
  PlanParser first;  // a range on the first line
  ASSERT_TRUE(parseIn(first, "a.h5\t5\t6\nb\n").isOk());
  EXPECT_EQ(first.range(0).offset, 5u);
  EXPECT_EQ(first.range(0).length, 6u);
  EXPECT_TRUE(first.range(1).whole());
  PlanParser plain;  // no range: every entry whole
  ASSERT_TRUE(parseIn(plain, "a\nb\n").isOk());
  EXPECT_TRUE(plain.range(0).whole());
  EXPECT_TRUE(plain.range(1).whole());
}

TEST(PlanParserTest, LastLineWaitsForFinish) {
  PlanParser p;
  ASSERT_TRUE(p.feed("a\nb").isOk());
  EXPECT_THAT(p.paths(), ElementsAre("a"));  // "b" may still grow
  ASSERT_TRUE(p.feed("cd").isOk());
  EXPECT_THAT(p.paths(), ElementsAre("a"));
  ASSERT_TRUE(p.finish().isOk());
  EXPECT_THAT(p.paths(), ElementsAre("a", "bcd"));
  // A second finish() has nothing left to add.
  ASSERT_TRUE(p.finish().isOk());
  EXPECT_THAT(p.paths(), ElementsAre("a", "bcd"));
}

TEST(PlanParserTest, LineSplitAcrossFeedsIncludingTheCrlf) {
  PlanParser p;
  for (std::string_view piece : {"cl", "s/a", ".j", "pg\r", "\nx/", "y\r", "\n"}) {
    ASSERT_TRUE(p.feed(piece).isOk()) << piece;
  }
  ASSERT_TRUE(p.finish().isOk());
  EXPECT_THAT(p.paths(), ElementsAre("cls/a.jpg", "x/y"));
}

TEST(PlanParserTest, EmptyPlanAndOnlyComments) {
  PlanParser empty;
  ASSERT_TRUE(empty.finish().isOk());
  EXPECT_TRUE(empty.paths().empty());
  PlanParser comments;
  ASSERT_TRUE(parseIn(comments, "# a\n\n#b\r\n\n#").isOk());
  EXPECT_TRUE(comments.paths().empty());
  EXPECT_EQ(comments.lines(), 5u);
}

TEST(PlanParserTest, Utf8NamesAreAccepted) {
  PlanParser p;
  const std::string text =
      "caf\xc3\xa9/na\xc3\xafve.jpg\n"          // 2-byte sequences
      "\xe6\x97\xa5\xe6\x9c\xac/\xe7\x8c\xab\n"  // 3-byte
      "emoji/\xf0\x9f\x90\x88.png\n"             // 4-byte
      "max/\xf4\x8f\xbf\xbf\n"                   // U+10FFFF, the largest code point
      "edge/\xed\x9f\xbf\xee\x80\x80\n";         // U+D7FF and U+E000 around the surrogates
  ASSERT_TRUE(parseIn(p, text).isOk());
  EXPECT_EQ(p.paths().size(), 5u);
  EXPECT_EQ(p.paths()[2], "emoji/\xf0\x9f\x90\x88.png");
}

TEST(PlanParserTest, PathOfExactlyTheLimitIsAccepted) {
  const std::string longest(kMaxPathBytes, 'a');
  for (size_t piece : {size_t{0}, size_t{1000}}) {
    PlanParser p;
    ASSERT_TRUE(parseIn(p, longest + "\r\n" + longest, piece).isOk()) << "piece " << piece;
    EXPECT_EQ(p.paths(), (Paths{longest, longest}));
  }
}

struct BadLine {
  std::string line;
  std::string problem;  // part of the message
};

// Each malformed line, as line 3 of a plan (after a valid line and a comment): kInvalid naming
// line 3 and the problem, whether it arrives at once, byte by byte, or last without "\n".
TEST(PlanParserTest, MalformedLinesNameTheLineAndTheProblem) {
  const std::vector<BadLine> cases = {
      {"/abs/a.jpg", "absolute path"},
      {"/", "absolute path"},
      {"a/../b", "'..' component"},
      {"..", "'..' component"},
      {"./a", "'.' component"},
      {"a/.", "'.' component"},
      {"a//b", "empty path component"},
      {"a/b/", "empty path component"},
      {std::string("a\0b", 3), "NUL byte"},
      {"bad\xff", "not valid UTF-8"},
      {"lone\x80", "not valid UTF-8"},
      {"trunc\xe6\x97", "not valid UTF-8"},
      {"trunc\xe6\x97/x", "not valid UTF-8"},
      {"overlong\xc0\xaf", "not valid UTF-8"},      // '/' in two bytes
      {"overlong\xe0\x80\xaf", "not valid UTF-8"},  // '/' in three bytes
      {"overlong\xf0\x80\x80\xaf", "not valid UTF-8"},
      {"surrogate\xed\xa0\x80", "not valid UTF-8"},  // U+D800
      {"surrogate\xed\xbf\xbf", "not valid UTF-8"},  // U+DFFF
      {"toolarge\xf4\x90\x80\x80", "not valid UTF-8"},  // U+110000
      {"fivebyte\xf8\x88\x80\x80\x80", "not valid UTF-8"},
      {std::string(kMaxPathBytes + 1, 'x'), "path longer than 4096 bytes"},
      {std::string(kMaxLineBytes + 1, 'x'), "longer than 4138 bytes"},
      {"a.h5\t0", "followed by offset<TAB>length"},
      {"a.h5\t0\t10\t3", "more than three TAB-separated fields"},
      {"a.h5\t-1\t10", "offset '-1' is not a decimal number"},
      {"a.h5\t 1\t10", "offset ' 1' is not a decimal number"},
      {"a.h5\t\t10", "offset '' is not a decimal number"},
      {"a.h5\t1\t0x10", "length '0x10' is not a decimal number"},
      {"a.h5\t1\t99999999999999999999", "length '99999999999999999999' is not a decimal"},
      {"a.h5\t1\t0", "length 0"},
      {"a.h5\t18446744073709551615\t1", "offset + length overflows"},
      {"\t0\t10", "empty path"},
      {"/a.h5\t0\t10", "absolute path"},
  };
  for (const BadLine& c : cases) {
    for (bool lastLine : {false, true}) {
      for (size_t piece : {size_t{0}, size_t{1}}) {
        PlanParser p;
        std::string text = "ok/a.jpg\n# comment\n" + c.line + (lastLine ? "" : "\nok/b.jpg\n");
        Status st = parseIn(p, text, piece);
        std::string where = "'" + c.line.substr(0, 40) + "' last=" + std::to_string(lastLine) +
                            " piece=" + std::to_string(piece);
        ASSERT_FALSE(st.isOk()) << where;
        EXPECT_EQ(st.code(), Code::kInvalid) << where;
        EXPECT_THAT(st.message(), HasSubstr("line 3")) << where;
        EXPECT_THAT(st.message(), ::testing::Not(HasSubstr("line 30"))) << where;
        EXPECT_THAT(st.message(), HasSubstr(c.problem)) << where << ": " << st.message();
        EXPECT_TRUE(p.failed()) << where;
        EXPECT_THAT(p.paths(), ElementsAre("ok/a.jpg")) << where;
      }
    }
  }
}

TEST(PlanParserTest, ControlBytesInTheMessageAreMasked) {
  PlanParser p;
  const char text[] = "a\0\x01\x1b[2Jb\n";
  Status st = p.feed(std::string_view(text, sizeof text - 1));
  ASSERT_EQ(st.code(), Code::kInvalid);
  EXPECT_EQ(st.message().find('\0'), std::string::npos);
  EXPECT_EQ(st.message().find('\x1b'), std::string::npos);
  EXPECT_THAT(st.message(), HasSubstr("line 1 "));
  EXPECT_THAT(st.message(), HasSubstr("a\\x00\\x01\\x1b[2Jb"));
}

TEST(PlanParserTest, BidiOverridesAndDelInTheMessageAreEscaped) {
  PlanParser p;
  // A bad path (a '..' component) that would show reversed on a terminal.
  Status st = p.feed("../evil\xe2\x80\xaegpj.\x7f\n");
  ASSERT_EQ(st.code(), Code::kInvalid);
  EXPECT_EQ(st.message().find("\xe2\x80\xae"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\x7f'), std::string::npos) << st.message();
  EXPECT_THAT(st.message(), HasSubstr("evil\\u202egpj.\\x7f"));
}

TEST(PlanParserTest, OverlongLineSplitAcrossFeedsFailsBeforeItsEnd) {
  PlanParser p;
  ASSERT_TRUE(p.feed("first\n").isOk());
  ASSERT_TRUE(p.feed(std::string(3000, 'a')).isOk());
  // The line is over the limit before any "\n" arrives: refused now, not buffered forever.
  Status st = p.feed(std::string(3000, 'a'));
  ASSERT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("line 2"));
  EXPECT_THAT(st.message(), HasSubstr("longer than " + std::to_string(kMaxLineBytes) + " bytes"));
  EXPECT_THAT(p.paths(), ElementsAre("first"));
}

// A comment is held to the same length whether it comes in one write or several.
TEST(PlanParserTest, OverlongCommentFailsInOneWriteAsInSeveral) {
  const std::string comment = "#" + std::string(kMaxLineBytes + 10, 'c') + "\n";
  const std::string problem = "line 1: longer than " + std::to_string(kMaxLineBytes) + " bytes";
  PlanParser whole;
  Status st = whole.feed(comment);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr(problem));
  PlanParser split;
  st = split.feed(comment.substr(0, 100));
  ASSERT_TRUE(st.isOk());
  st = split.feed(comment.substr(100));
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr(problem));
}

TEST(PlanParserTest, EveryCallAfterAnErrorFails) {
  PlanParser p;
  Status first = p.feed("good\n/bad\n");
  ASSERT_EQ(first.code(), Code::kInvalid);
  for (int i = 0; i < 2; ++i) {
    Status again = p.feed("fine/line\n");
    EXPECT_EQ(again.code(), Code::kInvalid);
    EXPECT_EQ(again.message(), first.message());
    Status fin = p.finish();
    EXPECT_EQ(fin.code(), Code::kInvalid);
    EXPECT_EQ(fin.message(), first.message());
  }
  EXPECT_THAT(p.paths(), ElementsAre("good"));
  EXPECT_TRUE(p.failed());
}

TEST(PlanParserTest, ErrorAtFinishIsStickyToo) {
  PlanParser p;
  ASSERT_TRUE(p.feed("good\nbad/../x").isOk());
  Status st = p.finish();
  ASSERT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("line 2"));
  EXPECT_TRUE(p.failed());
  EXPECT_EQ(p.finish().code(), Code::kInvalid);
  EXPECT_EQ(p.feed("more\n").code(), Code::kInvalid);
  EXPECT_THAT(p.paths(), ElementsAre("good"));
}

TEST(PlanParserTest, PlanOverTheSizeLimitIsRefused) {
  // 1 MiB of 4096-byte comment lines, fed kMaxPlanBytes / 1 MiB times: exactly the limit.
  std::string chunk;
  const std::string line = "#" + std::string(kMaxPathBytes - 2, 'x') + "\n";
  while (chunk.size() < (1u << 20)) chunk += line;
  ASSERT_EQ(chunk.size(), 1u << 20);
  PlanParser p;
  for (uint64_t i = 0; i < kMaxPlanBytes / chunk.size(); ++i) {
    ASSERT_TRUE(p.feed(chunk).isOk()) << "chunk " << i;
  }
  Status st = p.feed("a");
  ASSERT_EQ(st.code(), Code::kInvalid);
  EXPECT_THAT(st.message(), HasSubstr("plan larger than 1024 MiB"));
  EXPECT_EQ(p.finish().code(), Code::kInvalid);
}

TEST(PlanParserTest, CheckPlanPathDirectly) {
  for (std::string_view ok : {"a", "a/b/c.jpg", "a b/c d", "...", "..a/.b/c..", "#x", "a\\b",
                              "x/caf\xc3\xa9"}) {
    EXPECT_TRUE(checkPlanPath(ok).isOk()) << ok << ": " << checkPlanPath(ok).toString();
  }
  struct Case {
    std::string_view path;
    std::string_view problem;
  };
  for (const Case& c : std::vector<Case>{
           {"/a", "absolute path"},
           {"a/..", "'..' component"},
           {".", "'.' component"},
           {"a//b", "empty path component"},
           {"a/", "empty path component"},
           {std::string_view("a\0", 2), "NUL byte"},
           {"\xed\xa0\x80", "not valid UTF-8"},
           {"\xc1\xbf", "not valid UTF-8"},
           {"", "empty"},
           {std::string_view(), "empty"},
       }) {
    Status st = checkPlanPath(c.path);
    EXPECT_EQ(st.code(), Code::kInvalid) << "'" << c.path << "'";
    EXPECT_THAT(st.message(), HasSubstr(std::string(c.problem))) << "'" << c.path << "'";
  }
  const std::string tooLong(kMaxPathBytes + 1, 'a');
  EXPECT_THAT(checkPlanPath(tooLong).message(), HasSubstr("longer than 4096 bytes"));
  EXPECT_TRUE(checkPlanPath(std::string(kMaxPathBytes, 'a')).isOk());
  // The checker names no line: PlanParser adds that.
  EXPECT_THAT(checkPlanPath("/a").message(), ::testing::Not(HasSubstr("line")));
}

}  // namespace
}  // namespace epochfs::fs
