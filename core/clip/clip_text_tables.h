// Data tables for the CLIP tokenizer's text cleaning (html.unescape and str.lower()), generated
// from Python by scripts/gen_clip_text_tables.py into clip_text_tables.cc. All tables are sorted
// by their key so that callers can binary-search them.
#pragma once

#include <cstddef>

namespace maskgrpo::clip::tables {

template <typename T>
struct Span {
  const T* data;
  size_t size;
  const T* begin() const { return data; }
  const T* end() const { return data + size; }
};

struct CodePointRange {
  char32_t lo, hi;  // inclusive
};
// str.lower() of `cp` is `first` followed by `second` when second != 0 (only U+0130).
struct LowerMapping {
  char32_t cp, first, second;
};
// html.unescape's replacement for a numeric reference to `num` (e.g. &#128; is U+20AC).
struct CharrefRemap {
  char32_t num, replacement;
};
// An HTML5 named reference: the name after '&' (with its ';' where the name has one) and its
// UTF-8 value. Sorted by name bytes.
struct NamedEntity {
  const char* name;
  const char* value;
};

Span<LowerMapping> LowerMappings();
Span<CodePointRange> SigmaCasedRanges();
Span<CodePointRange> SigmaIgnorableRanges();
Span<CodePointRange> HtmlInvalidCodePoints();
Span<CharrefRemap> HtmlCharrefRemaps();
Span<NamedEntity> HtmlNamedEntities();
// e.g. "Python 3.11.2, Unicode 14.0.0".
const char* TablesVersion();

}  // namespace maskgrpo::clip::tables
