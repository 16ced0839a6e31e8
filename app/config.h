// Loading the typed configs (protobuf text format) with defaults in one place, and
// converting them to the core library's option structs.
#pragma once

#include <string>

#include "core/evaluate.h"
#include "core/grpo/train.h"
#include "core/pretrain.h"
#include "core/status.h"
#include "maskgrpo/config.pb.h"

namespace maskgrpo::app {

config::PretrainConfig DefaultPretrainConfig();
config::EvalConfig DefaultEvalConfig();
config::GenerateConfig DefaultGenerateConfig();
config::TrainConfig DefaultTrainConfig();

// Parses `path` over the defaults (an empty path gives the defaults). Syntax errors and
// unknown fields are errors with the file, line and column.
Status LoadTextConfig(const std::string& path, google::protobuf::Message* config);

StatusOr<PretrainOptions> ToPretrainOptions(const config::PretrainConfig& c);
StatusOr<EvalOptions> ToEvalOptions(const config::EvalConfig& c);
StatusOr<SampleOptions> ToSampleOptions(const config::Sampling& s, uint64_t seed);
StatusOr<DeviceOptions> ToDeviceOptions(const config::Runtime& r);
StatusOr<grpo::TrainOptions> ToTrainOptions(const config::TrainConfig& c);

}  // namespace maskgrpo::app
