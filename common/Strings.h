// common/Strings.h: the ASCII text helpers that protocol and config parsers share (HTTP
// header lines, SigV4's canonical form, S3's XML, AWS credentials files, config sizes).
//
// ASCII only and independent of the locale: these parse formats that define their own
// characters, so a byte outside 'A'..'Z' is never lowered and a non-ASCII byte is never a
// blank, whatever setlocale() said.
#pragma once

#include <string>
#include <string_view>

namespace epochfs {

// 'A'..'Z' become 'a'..'z'; every other byte is unchanged.
char lower(char c);
std::string lower(std::string_view s);

// Space and tab: what trim() strips unless told otherwise.
inline constexpr std::string_view kBlanks = " \t";

// `s` without the leading (trimLeft), trailing (trimRight) or both runs of bytes from
// `chars`. A view into `s`: it lives as long as the text `s` refers to.
std::string_view trimLeft(std::string_view s, std::string_view chars = kBlanks);
std::string_view trimRight(std::string_view s, std::string_view chars = kBlanks);
std::string_view trim(std::string_view s, std::string_view chars = kBlanks);

// The value of a hex digit ('0'..'9', 'a'..'f', 'A'..'F'), or -1 for any other byte.
int hexValue(char c);

}  // namespace epochfs
