#include "core/model_io.h"

#include "core/safetensors.h"

namespace maskgrpo {

Status SaveModel(const std::string& path, const MaskedTransformer& model,
                 const std::map<std::string, std::string>& extra_metadata) {
  TensorFile file;
  for (const auto& [name, p] : model.NamedParameters()) file.tensors[name] = p;
  file.metadata = extra_metadata;
  file.metadata[kModelConfigKey] = model.config().ToJson().Dump();
  file.metadata["format"] = "maskgrpo";
  return WriteSafetensors(path, file);
}

StatusOr<std::unique_ptr<MaskedTransformer>> LoadModel(const std::string& path, const DeviceOptions& device) {
  ASSIGN_OR_RETURN(TensorFile file, ReadSafetensors(path));
  auto it = file.metadata.find(kModelConfigKey);
  if (it == file.metadata.end()) return InvalidArgument(path + ": no '" + std::string(kModelConfigKey) + "' in the metadata");
  ASSIGN_OR_RETURN(Json json, Json::Parse(it->second));
  auto config = ModelConfig::FromJson(json);
  if (!config.ok()) return InvalidArgument(path + ": " + config.status().message());
  ASSIGN_OR_RETURN(auto model, MaskedTransformer::Create(*config, device, /*init_seed=*/0));
  Status st = model->LoadState(file.tensors);
  if (!st.ok()) return InvalidArgument(path + ": " + st.message());
  return model;
}

}  // namespace maskgrpo
