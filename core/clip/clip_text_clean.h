// The three text steps of open_clip's clean='lower', over code points, reproducing Python:
// html.unescape, whitespace collapsing (str.strip/str.split) and str.lower(). The data comes
// from Python via scripts/gen_clip_text_tables.py.
#pragma once

#include <string>

namespace maskgrpo::clip {

// Python's html.unescape (one pass): named HTML5 references with and without ';' (longest known
// prefix for the legacy ones), &#NN; and &#xNN; with optional ';', the HTML5 remaps of NUL, CR
// and 0x80..0x9F, U+FFFD for surrogates and values above U+10FFFF, dropped noncharacters.
std::u32string HtmlUnescape(const std::u32string& text);

// " ".join(text.split()): Python's str.isspace() runs become one space, none at either end.
std::u32string CollapseWhitespace(const std::u32string& text);

// Python's str.lower(): full lower-casing (U+0130 becomes two code points) with the final-sigma
// rule for U+03A3.
std::u32string PythonLower(const std::u32string& text);

// Python's str.isspace() for one code point (the Unicode White_Space property plus U+001C..U+001F).
bool IsPythonSpace(char32_t cp);

}  // namespace maskgrpo::clip
