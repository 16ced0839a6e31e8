#include "core/image/png_reader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/image/png.h"
#include "core/safetensors.h"

namespace maskgrpo {
namespace {

TEST(PngReader, ReadsWhatTheWriterWrites) {
  RgbImage img;
  img.width = 5;
  img.height = 3;
  for (int i = 0; i < 15; ++i) img.rgb.insert(img.rgb.end(), {uint8_t(i * 17), uint8_t(255 - i), uint8_t(i * i)});
  auto back = DecodePng(EncodePng(img));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->width, 5);
  EXPECT_EQ(back->height, 3);
  EXPECT_EQ(back->rgb, img.rgb);
}

// Pillow writes compressed PNGs with every filter type (optimize and the default adaptive
// filtering) and RGBA / greyscale modes: the reader must give Pillow's own RGB pixels.
TEST(PngReader, ReadsPillowsFilesLikePillowDoes) {
  const auto dir = std::filesystem::temp_directory_path() / ("png_reader_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string script = R"PY(
import sys, numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(3)
base = np.zeros((37, 53, 3), np.uint8)
base[..., 0] = np.arange(53)[None, :] * 4
base[..., 1] = np.arange(37)[:, None] * 6
base[10:20, 10:40] = rng.integers(0, 256, (10, 30, 3))
Image.fromarray(base).save(out + "/rgb.png")
Image.fromarray(base).convert("RGBA").save(out + "/rgba.png", optimize=True)
Image.fromarray(base).convert("L").save(out + "/grey.png")
for name in ("rgb", "rgba", "grey"):
    np.asarray(Image.open(out + "/" + name + ".png").convert("RGB")).tofile(out + "/" + name + ".raw")
)PY";
  const std::string cmd = "/usr/bin/python3 -c '" + script + "' " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs /usr/bin/python3 with python3-pil and numpy";
  for (const char* name : {"rgb", "rgba", "grey"}) {
    auto img = ReadPng((dir / (std::string(name) + ".png")).string());
    ASSERT_TRUE(img.ok()) << name << ": " << img.status().ToString();
    auto raw = ReadFileToString((dir / (std::string(name) + ".raw")).string());
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(img->width, 53);
    EXPECT_EQ(img->height, 37);
    EXPECT_EQ(std::string(img->rgb.begin(), img->rgb.end()), *raw) << name;
  }
  std::filesystem::remove_all(dir);
}

TEST(PngReader, DamagedFilesAreErrors) {
  RgbImage img;
  img.width = img.height = 4;
  img.rgb.assign(48, 7);
  const std::string good = EncodePng(img);
  EXPECT_FALSE(DecodePng("not a png").ok());
  for (size_t cut : {size_t{8}, size_t{20}, good.size() / 2, good.size() - 1}) {
    EXPECT_FALSE(DecodePng(good.substr(0, cut)).ok()) << cut;
  }
  std::string bad_depth = good;
  bad_depth[8 + 8 + 8] = 16;  // IHDR bit depth
  EXPECT_NE(DecodePng(bad_depth).status().message().find("bit depth 16"), std::string::npos);
}

// Found by fuzzing (fuzz/regressions/png): width * height overflowed for sides near 2^32.
TEST(PngReader, HugeSidesAreRefusedWithoutOverflow) {
  RgbImage img;
  img.width = img.height = 4;
  img.rgb.assign(48, 7);
  const std::string good = EncodePng(img);
  for (uint32_t side : {0xFFFFFFF5u, 0x80000001u, (1u << 26) + 1}) {
    std::string huge = good;
    for (int k = 0; k < 4; ++k) {
      huge[16 + k] = static_cast<char>(side >> (24 - 8 * k));  // IHDR width
      huge[20 + k] = static_cast<char>(side >> (24 - 8 * k));  // IHDR height
    }
    auto decoded = DecodePng(huge);
    ASSERT_FALSE(decoded.ok()) << side;
    EXPECT_NE(decoded.status().message().find("not allowed"), std::string::npos) << decoded.status().message();
  }
}

}  // namespace
}  // namespace maskgrpo
