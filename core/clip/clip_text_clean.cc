#include "core/clip/clip_text_clean.h"

#include <algorithm>
#include <cstring>

#include "core/clip/clip_text_tables.h"
#include "core/showo/unicode_classes.h"

namespace maskgrpo::clip {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kMaxCodePoint = 0x10FFFF;
// html.unescape's named references are at most 32 characters (its regex says {1,32}).
constexpr size_t kMaxEntityName = 32;

bool InRanges(tables::Span<tables::CodePointRange> ranges, char32_t cp) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](char32_t c, const tables::CodePointRange& r) { return c < r.lo; });
  return it != ranges.begin() && cp <= (it - 1)->hi;
}

int DigitValue(char32_t c, int base) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (base == 16 && c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  if (base == 16 && c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
  return -1;
}

void AppendUtf8String(const char* utf8, std::u32string* out) {
  // The table values are valid UTF-8 written by the generator.
  auto decoded = showo::DecodeUtf8(utf8);
  if (decoded.ok()) out->append(decoded->code_points.begin(), decoded->code_points.end());
}

const char* FindEntity(const std::u32string& name) {
  std::string key;
  for (char32_t c : name) {
    if (c > 0x7F) return nullptr;  // every HTML5 name is ASCII
    key.push_back(static_cast<char>(c));
  }
  auto entities = tables::HtmlNamedEntities();
  auto it = std::lower_bound(entities.begin(), entities.end(), key, [](const tables::NamedEntity& e, const std::string& k) {
    return std::strcmp(e.name, k.c_str()) < 0;
  });
  return it != entities.end() && key == it->name ? it->value : nullptr;
}

// Python's _replace_charref for a numeric reference.
void AppendNumericReference(char32_t num, std::u32string* out) {
  auto remaps = tables::HtmlCharrefRemaps();
  auto it = std::find_if(remaps.begin(), remaps.end(), [num](const tables::CharrefRemap& r) { return r.num == num; });
  if (it != remaps.end()) {
    out->push_back(it->replacement);
  } else if ((num >= 0xD800 && num <= 0xDFFF) || num > kMaxCodePoint) {
    out->push_back(kReplacement);
  } else if (!InRanges(tables::HtmlInvalidCodePoints(), num)) {
    out->push_back(num);
  }
}

// Tries html.unescape's regex at text[amp] == '&'. Returns the end of the match and appends its
// replacement, or returns amp when nothing matches there.
size_t ReplaceReference(const std::u32string& text, size_t amp, std::u32string* out) {
  const size_t n = text.size();
  size_t i = amp + 1;
  if (i < n && text[i] == '#') {
    int base = 10;
    size_t digits = i + 1;
    if (digits < n && (text[digits] == 'x' || text[digits] == 'X') && digits + 1 < n && DigitValue(text[digits + 1], 16) >= 0) {
      base = 16;
      ++digits;
    } else if (digits >= n || DigitValue(text[digits], 10) < 0) {
      return amp;  // "&#" without digits matches none of the alternatives
    }
    char32_t num = 0;
    size_t j = digits;
    for (; j < n && DigitValue(text[j], base) >= 0; ++j) {
      // Saturate: any value above U+10FFFF gets the same replacement.
      num = std::min<char32_t>(num * static_cast<char32_t>(base) + static_cast<char32_t>(DigitValue(text[j], base)),
                               kMaxCodePoint + 1);
    }
    if (j < n && text[j] == ';') ++j;
    AppendNumericReference(num, out);
    return j;
  }
  size_t j = i;
  while (j < n && j - i < kMaxEntityName) {
    const char32_t c = text[j];
    if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') break;
    ++j;
  }
  if (j == i) return amp;
  if (j < n && text[j] == ';') ++j;
  const std::u32string name = text.substr(i, j - i);
  if (const char* value = FindEntity(name)) {
    AppendUtf8String(value, out);
    return j;
  }
  // Legacy references without ';' (e.g. "&ampx"): the longest known prefix of 2+ characters.
  for (size_t len = name.size() - 1; len >= 2 && len < name.size(); --len) {
    if (const char* value = FindEntity(name.substr(0, len))) {
      AppendUtf8String(value, out);
      out->append(name, len, std::u32string::npos);
      return j;
    }
  }
  out->push_back('&');
  out->append(name);
  return j;
}

bool IsSigmaCased(char32_t cp) { return InRanges(tables::SigmaCasedRanges(), cp); }
bool IsSigmaIgnorable(char32_t cp) { return InRanges(tables::SigmaIgnorableRanges(), cp); }

// CPython's handle_capital_sigma: final (U+03C2) after a cased letter and not before one,
// skipping case-ignorable code points both ways.
char32_t LowerSigma(const std::u32string& text, size_t i) {
  size_t j = i;
  while (j > 0 && IsSigmaIgnorable(text[j - 1])) --j;
  bool final_sigma = j > 0 && IsSigmaCased(text[j - 1]);
  if (final_sigma) {
    size_t k = i + 1;
    while (k < text.size() && IsSigmaIgnorable(text[k])) ++k;
    final_sigma = k == text.size() || !IsSigmaCased(text[k]);
  }
  return final_sigma ? 0x03C2 : 0x03C3;
}

}  // namespace

bool IsPythonSpace(char32_t cp) { return showo::IsWhitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

std::u32string HtmlUnescape(const std::u32string& text) {
  if (text.find(U'&') == std::u32string::npos) return text;
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '&') {
      const size_t end = ReplaceReference(text, i, &out);
      if (end != i) {
        i = end;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

std::u32string CollapseWhitespace(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char32_t c : text) {
    if (IsPythonSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::u32string PythonLower(const std::u32string& text) {
  auto mappings = tables::LowerMappings();
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x03A3) {
      out.push_back(LowerSigma(text, i));
      continue;
    }
    auto it = std::lower_bound(mappings.begin(), mappings.end(), c,
                               [](const tables::LowerMapping& m, char32_t v) { return m.cp < v; });
    if (it == mappings.end() || it->cp != c) {
      out.push_back(c);
      continue;
    }
    out.push_back(it->first);
    if (it->second != 0) out.push_back(it->second);
  }
  return out;
}

}  // namespace maskgrpo::clip
