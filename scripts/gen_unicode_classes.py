#!/usr/bin/python3
"""Generates core/showo/unicode_classes.cc: the code point classes of GPT-2's pre-tokenizer.

GPT-2's pre-tokenizer regex uses \\p{L}, \\p{N} and \\s. std::regex cannot express \\p{..}, so the
C++ matcher asks IsLetter/IsNumber/IsWhitespace, which binary-search range tables built here from
Python's unicodedata (the Unicode version is written into the output).

  \\p{L} = general categories Lu Ll Lt Lm Lo
  \\p{N} = general categories Nd Nl No
  \\s    = the Unicode White_Space property (PropList.txt), which is what Python's `regex` and
          Oniguruma (HF tokenizers) use. unicodedata has no White_Space accessor; str.isspace()
          is White_Space plus U+001C..U+001F (bidi class B/S "information separators"), so those
          four are removed. JavaScript's /u \\s differs in two code points: it excludes U+0085 and
          includes U+FEFF.

The UTF-8 decoder is kept in this script too so that the .cc is one generated file.

usage: /usr/bin/python3 scripts/gen_unicode_classes.py [OUTPUT]   (default core/showo/unicode_classes.cc)
"""
import os
import sys
import unicodedata

MAX_CODE_POINT = 0x10FFFF


def ranges(predicate):
    out = []
    start = None
    for cp in range(MAX_CODE_POINT + 2):
        inside = cp <= MAX_CODE_POINT and predicate(cp)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def is_letter(cp):
    return unicodedata.category(chr(cp)) in ("Lu", "Ll", "Lt", "Lm", "Lo")


def is_number(cp):
    return unicodedata.category(chr(cp)) in ("Nd", "Nl", "No")


def is_white_space(cp):
    return chr(cp).isspace() and not (0x1C <= cp <= 0x1F)


def table(name, rs):
    lines = [f"constexpr Range {name}[] = {{"]
    row = []
    for lo, hi in rs:
        row.append(f"{{0x{lo:04X}, 0x{hi:04X}}}")
        if len(row) == 6:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("};")
    return "\n".join(lines)


DECODER = r'''
StatusOr<Utf8Text> DecodeUtf8(const std::string& text) {
  Utf8Text out;
  out.code_points.reserve(text.size());
  out.byte_offsets.reserve(text.size() + 1);
  const size_t n = text.size();
  size_t i = 0;
  auto error = [&](const std::string& why) {
    char byte[8];
    std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned char>(text[i]));
    return InvalidArgument("invalid UTF-8 at byte offset " + std::to_string(i) + " (byte " + byte +
                           "): " + why);
  };
  while (i < n) {
    const unsigned char b0 = static_cast<unsigned char>(text[i]);
    int len = 0;
    char32_t cp = 0;
    char32_t min = 0;  // smallest code point allowed for this length (rejects overlong forms)
    if (b0 < 0x80) {
      len = 1; cp = b0;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2; cp = b0 & 0x1F; min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3; cp = b0 & 0x0F; min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4; cp = b0 & 0x07; min = 0x10000;
    } else if (b0 >= 0x80 && b0 <= 0xBF) {
      return error("continuation byte without a lead byte");
    } else if (b0 == 0xC0 || b0 == 0xC1) {
      return error("overlong encoding (lead byte of a 2-byte form below U+0080)");
    } else {
      return error("byte never valid in UTF-8");
    }
    if (i + static_cast<size_t>(len) > n) return error("truncated multi-byte sequence at end of text");
    for (int k = 1; k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return error("multi-byte sequence cut short by byte " + std::to_string(k));
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min) return error("overlong encoding");
    if (cp >= 0xD800 && cp <= 0xDFFF) return error("encoded UTF-16 surrogate");
    if (cp > 0x10FFFF) return error("code point above U+10FFFF");
    out.code_points.push_back(cp);
    out.byte_offsets.push_back(i);
    i += static_cast<size_t>(len);
  }
  out.byte_offsets.push_back(n);
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}
'''


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "core", "showo", "unicode_classes.cc")
    letters = ranges(is_letter)
    numbers = ranges(is_number)
    spaces = ranges(is_white_space)
    src = f"""// GENERATED FILE: do not edit. Regenerate with
//   /usr/bin/python3 scripts/gen_unicode_classes.py
// from Python {sys.version.split()[0]} unicodedata, Unicode {unicodedata.unidata_version}.
// Edit the script (tables and the UTF-8 decoder both live there) instead of this file.
#include "core/showo/unicode_classes.h"

#include <algorithm>
#include <cstdio>

namespace maskgrpo::showo {{
namespace {{

struct Range {{
  char32_t lo;
  char32_t hi;
}};

// \\p{{L}}: general categories Lu Ll Lt Lm Lo ({len(letters)} ranges).
{table("kLetter", letters)}

// \\p{{N}}: general categories Nd Nl No ({len(numbers)} ranges).
{table("kNumber", numbers)}

// \\s: the White_Space property ({len(spaces)} ranges).
{table("kWhiteSpace", spaces)}

template <size_t N>
bool InTable(const Range (&table)[N], char32_t cp) {{
  // First range whose upper end is >= cp; cp is inside it iff lo <= cp.
  const Range* it = std::lower_bound(table, table + N, cp,
                                     [](const Range& r, char32_t c) {{ return r.hi < c; }});
  return it != table + N && it->lo <= cp;
}}

}}  // namespace

const char* UnicodeTablesVersion() {{ return "{unicodedata.unidata_version}"; }}

bool IsLetter(char32_t cp) {{
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return InTable(kLetter, cp);
}}

bool IsNumber(char32_t cp) {{
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return InTable(kNumber, cp);
}}

bool IsWhitespace(char32_t cp) {{
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return InTable(kWhiteSpace, cp);
}}
{DECODER}
}}  // namespace maskgrpo::showo
"""
    with open(output, "w", encoding="utf-8") as f:
        f.write(src)
    print(f"wrote {output}: {len(letters)} letter, {len(numbers)} number, {len(spaces)} space ranges "
          f"(Unicode {unicodedata.unidata_version})")


if __name__ == "__main__":
    main()
