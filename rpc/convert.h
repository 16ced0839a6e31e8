// Conversions between the wire messages (proto/maskgrpo/common.proto) and the core
// library's types. Every From* validates what it reads and names the offending field,
// prefixed with `field` (e.g. "items[3].prompt.spec").
#pragma once

#include <string>

#include "core/shapeworld/prompts.h"
#include "core/shapeworld/world.h"
#include "core/status.h"
#include "core/trajectory.h"
#include "maskgrpo/common.pb.h"

namespace maskgrpo::rpc {

void ToProto(const shapeworld::PromptSpec& spec, v1::PromptSpec* out);
StatusOr<shapeworld::PromptSpec> FromProto(const v1::PromptSpec& spec, const std::string& field);

void ToProto(const shapeworld::Image& image, v1::Image* out);
StatusOr<shapeworld::Image> FromProto(const v1::Image& image, const std::string& field);

// trajectories: CPU tensors as the sampler records them.
void ToProto(const TrajectoryBatch& trajectories, v1::TrajectoryGroup* out);

// Checks lengths against the declared shape and the expected N (image_tokens) and returns
// CPU tensors; value ranges are the learner's ValidateGroup's job.
StatusOr<TrajectoryBatch> FromProto(const v1::TrajectoryGroup& group, int64_t image_tokens, const std::string& field);

}  // namespace maskgrpo::rpc
