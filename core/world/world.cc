#include "core/world/world.h"

#include "core/model_io.h"

namespace maskgrpo {

StatusOr<std::unique_ptr<MaskedTransformer>> World::LoadModel(const std::string& path, const DeviceOptions& device) const {
  ASSIGN_OR_RETURN(auto model, maskgrpo::LoadModel(path, device));
  Status fits = CheckModel(model->config());
  if (!fits.ok()) return FailedPrecondition(path + ": " + fits.message());
  return model;
}

}  // namespace maskgrpo
