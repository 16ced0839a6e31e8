// Reading a published model directory's weights, whatever form they were saved in.
//
// Hugging Face / diffusers-style loaders (Show-o's vendored ModelMixin among them) look for
// a fixed list of file names and also accept a sharded index (`<name>.index.json` with a
// "weight_map" from tensor name to shard file). Safetensors files are read directly;
// pickled `.bin` / `.pt` / `.pth` files (torch.save's zip format) through the native
// reader in torch_pickle.h, so no Python is needed at run time.
#pragma once

#include <string>
#include <vector>

#include "core/safetensors.h"
#include "core/status.h"

namespace maskgrpo {

// Reads one weights file by its extension: .safetensors, or torch.save's .bin/.pt/.pth.
StatusOr<TensorFile> ReadWeightsFile(const std::string& path);

// Finds the first of `file_names` that exists in `dir` (a name may also exist as
// "<name>.index.json", a sharded checkpoint) and reads every tensor of it. The error for
// a directory with none of them lists the names looked for.
struct WeightsSource {
  std::string description;  // the file (or index) read, for logs and errors
  TensorFile file;
};
StatusOr<WeightsSource> ReadWeightsDirectory(const std::string& dir, const std::vector<std::string>& file_names);

// The names Show-o's loader looks for, in its order (safetensors first), plus the
// transformers default `model.safetensors`.
const std::vector<std::string>& ShowoWeightFileNames();

// Every problem between the tensors a model expects (name -> shape) and a state, listed
// at once ("missing: a, b; unexpected: c; shape of d is [2,3], expected [3,2]"), or OK.
// At most `max_listed` names per kind are spelled out; the counts are always given.
Status CheckStateNames(const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                       const TensorFile& state, size_t max_listed = 12);

}  // namespace maskgrpo
