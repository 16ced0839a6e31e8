#include "core/image/png.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace maskgrpo {
namespace {

uint32_t Crc32(const uint8_t* data, size_t n, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void Chunk(std::string* out, const char* type, const std::string& data) {
  PutU32(out, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  out->append(body);
  PutU32(out, Crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

// 5x7 glyphs, one string per glyph: 7 rows of 5 columns, '#' = ink.
const char* Glyph(char c) {
  switch (c) {
    case 'a': return "     " " ### " "    #" " ####" "#   #" " ####" "     ";
    case 'b': return "#    " "#    " "#### " "#   #" "#   #" "#### " "     ";
    case 'c': return "     " " ####" "#    " "#    " "#    " " ####" "     ";
    case 'd': return "    #" "    #" " ####" "#   #" "#   #" " ####" "     ";
    case 'e': return "     " " ### " "#   #" "#####" "#    " " ### " "     ";
    case 'f': return "  ## " " #   " "#### " " #   " " #   " " #   " "     ";
    case 'g': return "     " " ####" "#   #" " ####" "    #" " ### " "     ";
    case 'h': return "#    " "#    " "#### " "#   #" "#   #" "#   #" "     ";
    case 'i': return "  #  " "     " " ##  " "  #  " "  #  " " ### " "     ";
    case 'j': return "   # " "     " "  ## " "   # " "   # " " ##  " "     ";
    case 'k': return "#    " "#  # " "# #  " "##   " "# #  " "#  # " "     ";
    case 'l': return " ##  " "  #  " "  #  " "  #  " "  #  " " ### " "     ";
    case 'm': return "     " "## # " "# # #" "# # #" "# # #" "#   #" "     ";
    case 'n': return "     " "#### " "#   #" "#   #" "#   #" "#   #" "     ";
    case 'o': return "     " " ### " "#   #" "#   #" "#   #" " ### " "     ";
    case 'p': return "     " "#### " "#   #" "#### " "#    " "#    " "     ";
    case 'q': return "     " " ####" "#   #" " ####" "    #" "    #" "     ";
    case 'r': return "     " "# ## " "##   " "#    " "#    " "#    " "     ";
    case 's': return "     " " ####" "#    " " ### " "    #" "#### " "     ";
    case 't': return " #   " "#### " " #   " " #   " " #  #" "  ## " "     ";
    case 'u': return "     " "#   #" "#   #" "#   #" "#   #" " ####" "     ";
    case 'v': return "     " "#   #" "#   #" "#   #" " # # " "  #  " "     ";
    case 'w': return "     " "#   #" "#   #" "# # #" "# # #" " # # " "     ";
    case 'x': return "     " "#   #" " # # " "  #  " " # # " "#   #" "     ";
    case 'y': return "     " "#   #" "#   #" " ####" "    #" " ### " "     ";
    case 'z': return "     " "#####" "   # " "  #  " " #   " "#####" "     ";
    case '0': return " ### " "#   #" "#  ##" "# # #" "##  #" " ### " "     ";
    case '1': return "  #  " " ##  " "  #  " "  #  " "  #  " " ### " "     ";
    case '2': return " ### " "#   #" "   # " "  #  " " #   " "#####" "     ";
    case '3': return "#### " "    #" " ### " "    #" "    #" "#### " "     ";
    case '4': return "   # " "  ## " " # # " "#  # " "#####" "   # " "     ";
    case '5': return "#####" "#    " "#### " "    #" "    #" "#### " "     ";
    case '6': return " ### " "#    " "#### " "#   #" "#   #" " ### " "     ";
    case '7': return "#####" "    #" "   # " "  #  " " #   " " #   " "     ";
    case '8': return " ### " "#   #" " ### " "#   #" "#   #" " ### " "     ";
    case '9': return " ### " "#   #" " ####" "    #" "    #" " ### " "     ";
    case '.': return "     " "     " "     " "     " "     " "  #  " "     ";
    case ':': return "     " "  #  " "     " "     " "  #  " "     " "     ";
    case '-': return "     " "     " "     " " ### " "     " "     " "     ";
    case '=': return "     " "     " "#####" "     " "#####" "     " "     ";
    default: return "     " "     " "     " "     " "     " "     " "     ";
  }
}

constexpr int kCharW = 6, kCharH = 8, kCaptionLines = 3;

void DrawText(RgbImage* img, int x0, int y0, const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char* g = Glyph(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
    for (int r = 0; r < 7; ++r) {
      for (int c = 0; c < 5; ++c) {
        if (g[r * 5 + c] != '#') continue;
        const int x = x0 + static_cast<int>(i) * kCharW + c, y = y0 + r;
        if (x < 0 || y < 0 || x >= img->width || y >= img->height) continue;
        std::memset(&img->rgb[(static_cast<size_t>(y) * img->width + x) * 3], 0, 3);
      }
    }
  }
}

std::vector<std::string> Wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::string line, word;
  auto flush_word = [&]() {
    if (word.empty()) return;
    if (!line.empty() && line.size() + 1 + word.size() > width) { lines.push_back(line); line.clear(); }
    line += (line.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : text) {
    if (c == ' ') flush_word(); else word.push_back(c);
  }
  flush_word();
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

std::string EncodePng(const RgbImage& image) {
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutU32(&ihdr, image.width);
  PutU32(&ihdr, image.height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  Chunk(&out, "IHDR", ihdr);
  // Raw scanlines (filter byte 0), wrapped in zlib with stored deflate blocks.
  std::string raw;
  const size_t row = static_cast<size_t>(image.width) * 3;
  for (int y = 0; y < image.height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(&image.rgb[y * row]), row);
  }
  std::string z("\x78\x01", 2);
  for (size_t pos = 0; pos < raw.size() || pos == 0;) {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    const bool last = pos + n >= raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<char>(n & 0xFF));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 0xFF));
    z.push_back(static_cast<char>((~n >> 8) & 0xFF));
    z.append(raw, pos, n);
    pos += n;
    if (last) break;
  }
  uint32_t a = 1, b = 0;  // Adler-32
  for (unsigned char c : raw) { a = (a + c) % 65521; b = (b + a) % 65521; }
  PutU32(&z, (b << 16) | a);
  Chunk(&out, "IDAT", z);
  Chunk(&out, "IEND", "");
  return out;
}

Status WritePng(const std::string& path, const RgbImage& image) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return FailedPrecondition("cannot write '" + path + "'");
  std::string png = EncodePng(image);
  f.write(png.data(), static_cast<std::streamsize>(png.size()));
  return f ? Status::Ok() : Internal("error writing '" + path + "'");
}

RgbImage MakeGrid(const std::vector<RgbImage>& images, const std::vector<std::string>& captions, int columns, int scale) {
  const int n = static_cast<int>(images.size());
  const int rows = (n + columns - 1) / columns;
  const int image_w = n ? images[0].width : 0, image_h = n ? images[0].height : 0;
  const int cell_w = image_w * scale + 8;
  const int caption_h = kCaptionLines * kCharH + 4;
  const int cell_h = image_h * scale + caption_h + 8;
  RgbImage grid;
  grid.width = std::max(1, columns * cell_w);
  grid.height = std::max(1, rows * cell_h);
  grid.rgb.assign(static_cast<size_t>(grid.width) * grid.height * 3, 255);
  for (int i = 0; i < n; ++i) {
    const int gx = (i % columns) * cell_w + 4, gy = (i / columns) * cell_h + 4;
    if (images[i].width != image_w || images[i].height != image_h || !images[i].Valid()) continue;  // not drawn
    for (int y = 0; y < image_h * scale; ++y) {
      for (int x = 0; x < image_w * scale; ++x) {
        const uint8_t* p = images[i].Pixel(x / scale, y / scale);
        std::memcpy(&grid.rgb[(static_cast<size_t>(gy + y) * grid.width + gx + x) * 3], p, 3);
      }
    }
    if (i < static_cast<int>(captions.size())) {
      auto lines = Wrap(captions[i], static_cast<size_t>(image_w * scale / kCharW));
      for (int l = 0; l < kCaptionLines && l < static_cast<int>(lines.size()); ++l) {
        DrawText(&grid, gx, gy + image_h * scale + 3 + l * kCharH, lines[l]);
      }
    }
  }
  return grid;
}

}  // namespace maskgrpo
