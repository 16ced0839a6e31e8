// Conversions between the wire messages (proto/maskgrpo/common.proto) and the core
// library's types. Every From* validates what it reads and names the offending field,
// prefixed with `field` (e.g. "items[3].prompt.spec").
#pragma once

#include <cstdint>
#include <string>

#include "core/image/rgb_image.h"
#include "core/status.h"
#include "core/trajectory.h"
#include "core/weight_probe.h"
#include "core/world/prompt.h"
#include "maskgrpo/common.pb.h"
#include "maskgrpo/learner.pb.h"

namespace maskgrpo::rpc {

// Wall-clock milliseconds since the Unix epoch: the unit of lease deadlines on the wire and of
// the learner's ledger times.
int64_t NowUnixMs();

// A prompt and its GenEval metadata, whatever the world: class names and colours are free
// strings; the structure (counts, relations, references) is checked here, the vocabulary
// by whoever judges it (e.g. ShapeWorld's scorers). An empty tag means no metadata.
// Weight probes travel as they are; whether one fits a model is CheckWeightProbe's to say.
void ToProto(const WeightProbe& probe, v1::WeightProbe* out);
WeightProbe FromProto(const v1::WeightProbe& probe);

void ToProto(const Prompt& prompt, v1::Prompt* out);
StatusOr<Prompt> FromProto(const v1::Prompt& prompt, const std::string& field);

void ToProto(const RgbImage& image, v1::Image* out);
StatusOr<RgbImage> FromProto(const v1::Image& image, const std::string& field);

// trajectories: CPU tensors as the sampler records them.
void ToProto(const TrajectoryBatch& trajectories, v1::TrajectoryGroup* out);

// Checks lengths against the declared shape and the expected N (image_tokens) and returns
// CPU tensors; value ranges are the learner's ValidateGroup's job.
StatusOr<TrajectoryBatch> FromProto(const v1::TrajectoryGroup& group, int64_t image_tokens, const std::string& field);

}  // namespace maskgrpo::rpc
