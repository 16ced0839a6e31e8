// PNG bytes in (core/image/png_reader.h, `maskgrpo score`): whatever decodes is a valid RGB image.
#include <cstdint>
#include <string>

#include "core/image/png_reader.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto image = maskgrpo::DecodePng(std::string(reinterpret_cast<const char*>(data), size), "fuzz.png");
  maskgrpo::fuzz::Note(image.ok() ? "png: accepted" : "png: " + image.status().ToString());
  if (!image.ok()) return 0;
  FUZZ_CHECK(image->Valid(), "a decoded image with inconsistent size");
  return 0;
}
