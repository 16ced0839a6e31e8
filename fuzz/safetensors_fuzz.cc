// safetensors bytes in (core/safetensors.h): the header (JSON, offsets, dtypes, shapes) and
// the data. Whatever decodes must encode and decode again to the same names, metadata and bytes.
#include <cstdint>
#include <string>

#include "core/safetensors.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/tensor_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maskgrpo;
  auto file = DecodeSafetensors(std::string(reinterpret_cast<const char*>(data), size));
  fuzz::Note(file.ok() ? "safetensors: " + std::to_string(file->tensors.size()) + " tensors"
                      : "safetensors: " + file.status().ToString());
  if (!file.ok()) return 0;
  for (const auto& [name, t] : file->tensors) fuzz::TouchBytes(t);
  auto bytes = EncodeSafetensors(*file);
  FUZZ_CHECK(bytes.ok(), "an accepted file does not encode: " + bytes.status().ToString());
  auto again = DecodeSafetensors(*bytes);
  FUZZ_CHECK(again.ok(), "the re-encoded file does not decode: " + again.status().ToString());
  FUZZ_CHECK(again->metadata == file->metadata, "metadata changed in the round trip");
  FUZZ_CHECK(again->tensors.size() == file->tensors.size(), "tensor count changed in the round trip");
  for (const auto& [name, t] : file->tensors) {
    auto it = again->tensors.find(name);
    FUZZ_CHECK(it != again->tensors.end(), "tensor lost in the round trip: " + name);
    FUZZ_CHECK(fuzz::SameBytes(t, it->second), "tensor changed in the round trip: " + name);
  }
  return 0;
}
