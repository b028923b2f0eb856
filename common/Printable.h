// common/Printable.h: text from outside (a config file, a plan line, an origin's name) made
// safe to put in a log line or on a terminal.
//
// Control bytes (NUL, ESC, newlines, DEL...), bytes that are not UTF-8, and the Unicode
// characters that reorder or hide text (bidi overrides and isolates U+202A-U+202E,
// U+2066-U+2069, U+200E, U+200F, U+061C) become visible escapes: "\x00", "\x1b", "\u202e".
// A backslash is doubled, so the escapes cannot be forged. Everything else passes unchanged.
#pragma once

#include <string>
#include <string_view>

namespace epochfs {

std::string printable(std::string_view text);

}  // namespace epochfs
