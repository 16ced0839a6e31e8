// .npy bytes in (core/grpo/npy.h, the group dumps): whatever decodes must encode and decode
// again to the same dtype, shape and bytes.
#include <cstdint>
#include <string>

#include "core/grpo/npy.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/tensor_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maskgrpo;
  using namespace maskgrpo::grpo;
  auto tensor = DecodeNpy(std::string(reinterpret_cast<const char*>(data), size));
  fuzz::Note(tensor.ok() ? "npy: accepted" : "npy: " + tensor.status().ToString());
  if (!tensor.ok()) return 0;
  fuzz::TouchBytes(*tensor);
  auto bytes = EncodeNpy(*tensor);
  FUZZ_CHECK(bytes.ok(), "an accepted array does not encode: " + bytes.status().ToString());
  auto again = DecodeNpy(*bytes);
  FUZZ_CHECK(again.ok(), "the re-encoded array does not decode: " + again.status().ToString());
  FUZZ_CHECK(fuzz::SameBytes(*tensor, *again), "array changed in the round trip");
  return 0;
}
