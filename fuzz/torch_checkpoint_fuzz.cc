// torch.save files in (core/checkpoint): the zip container (central directory, ZIP64,
// local headers), the pickle VM with torch's allow-list, storages and views, and the
// legacy (pre-1.6) format. CRC checks are off so that mutations reach the pickle parser
// behind the zip; the first input byte chooses the options (inner key, metadata leaves).
#include <cstdint>
#include <string>

#include "core/checkpoint/torch_pickle.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/tensor_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maskgrpo;
  if (size < 1) return 0;
  TorchCheckpointOptions options;
  options.verify_crc = false;
  if (data[0] & 1) options.inner_key = "state_dict";
  if (data[0] & 2) options.non_tensor_leaves = TorchCheckpointOptions::NonTensorLeaves::kMetadata;
  const std::string path = fuzz::WriteScratchFile(".pt", data + 1, size - 1);
  auto file = ReadTorchCheckpoint(path, options);
  fuzz::Note(file.ok() ? "checkpoint: " + std::to_string(file->tensors.size()) + " tensors"
                      : "checkpoint: " + file.status().ToString());
  if (!file.ok()) {
    FUZZ_CHECK(!file.status().message().empty(), "an error without a message");
    return 0;
  }
  for (const auto& [name, t] : file->tensors) {
    FUZZ_CHECK(t.is_contiguous(), "a tensor that is not contiguous: " + name);
    fuzz::TouchBytes(t);
  }
  return 0;
}
