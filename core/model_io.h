// Saving and loading a MaskedTransformer as safetensors, with the model config in the
// header metadata ("maskgrpo.model_config") so a file is self-describing.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/transformer.h"

namespace maskgrpo {

inline constexpr char kModelConfigKey[] = "maskgrpo.model_config";

Status SaveModel(const std::string& path, const MaskedTransformer& model,
                 const std::map<std::string, std::string>& extra_metadata = {});

// Reads the config from the file, builds the model on `device` and loads every tensor;
// an error names the bad tensor or field and no model is returned.
StatusOr<std::unique_ptr<MaskedTransformer>> LoadModel(const std::string& path, const DeviceOptions& device);

}  // namespace maskgrpo
