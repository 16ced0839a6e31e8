// GPT-2's byte-level symbols, written out independently of core/showo (the fuzz targets'
// fixed vocabularies must not trust the code under test).
#pragma once

#include <string>
#include <vector>

namespace maskgrpo::fuzz {

inline std::string Utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's byte symbols: printable Latin-1 bytes stand for themselves, the others map to
// U+0100 onwards in byte order.
inline std::vector<std::string> ByteSymbols() {
  std::vector<std::string> out(256);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    out[b] = Utf8(printable ? static_cast<char32_t>(b) : next++);
  }
  return out;
}

}  // namespace maskgrpo::fuzz
