// Loading the typed configs (protobuf text format) with defaults in one place, and
// converting them to the core library's option structs.
#pragma once

#include <string>

#include "core/evaluate.h"
#include "core/grpo/train.h"
#include "core/pretrain.h"
#include "core/status.h"
#include "app/flags.h"
#include "maskgrpo/config.pb.h"
#include "maskgrpo/service_config.pb.h"

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
// The world block (absent: ShapeWorld). `process_device` is where the decoder runs unless
// the block gives its own decoder_runtime.
StatusOr<WorldOptions> ToWorldOptions(const config::WorldConfig& c, const DeviceOptions& process_device);

// --device, --dtype and --threads over a config's runtime block.
Status ApplyRuntimeFlags(const Flags& f, config::Runtime* r);

config::LaunchConfig DefaultLaunchConfig();

// Keeps out_dir/config.textproto: written on a fresh run; a run folder that holds a
// checkpoint must be resumed with the config it was started with (else an error: resuming
// under other settings would silently change the experiment).
Status SnapshotRunConfig(const std::string& out_dir, const google::protobuf::Message& config);

}  // namespace maskgrpo::app
