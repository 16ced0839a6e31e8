// Code point classes for GPT-2's pre-tokenizer, and a strict UTF-8 decoder.
//
// The pre-tokenizer regex needs \p{L}, \p{N} and \s over code points, which std::regex cannot
// express. The tables behind these functions are generated from Python's unicodedata by
// scripts/gen_unicode_classes.py (see UnicodeTablesVersion()).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo::showo {

// \p{L}: general category Lu, Ll, Lt, Lm or Lo.
bool IsLetter(char32_t cp);
// \p{N}: general category Nd, Nl or No.
bool IsNumber(char32_t cp);
// \s as Python's `regex` and Oniguruma (HF tokenizers) define it: the Unicode White_Space
// property. JavaScript's \s differs only at U+0085 (not \s in JS) and U+FEFF (\s in JS).
bool IsWhitespace(char32_t cp);
// The Unicode version the tables were generated from, e.g. "14.0.0".
const char* UnicodeTablesVersion();

// Decoded text: code_points[i] was encoded at bytes [byte_offsets[i], byte_offsets[i + 1]);
// byte_offsets has one entry more than code_points (the text's size).
struct Utf8Text {
  std::vector<char32_t> code_points;
  std::vector<size_t> byte_offsets;
};

// Strict decoding: overlong forms, encoded surrogates, code points above U+10FFFF, stray
// continuation bytes and truncated sequences are errors naming the byte offset, because a
// tokenizer that guessed would silently change the prompt.
StatusOr<Utf8Text> DecodeUtf8(const std::string& text);

// Appends the UTF-8 encoding of a valid code point (not a surrogate, at most U+10FFFF).
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace maskgrpo::showo
