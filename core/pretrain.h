// Supervised pretraining of the ShapeWorld base model with Show-o's masked-token
// objective: a mask ratio drawn from the cosine schedule, cross-entropy on masked
// positions, and the prompt dropped for a fraction of samples so that CFG works.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/model_config.h"
#include "core/status.h"
#include "core/transformer.h"

namespace maskgrpo {

struct PretrainOptions {
  int64_t hidden_size = 128, num_layers = 4, num_heads = 4, intermediate_size = 512, rotary_dim = 16;
  double rope_theta = 10000.0;
  DeviceOptions device;
  int64_t steps = 2000;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;
  double min_lr_ratio = 0.1;  // cosine decays to learning_rate * min_lr_ratio
  double weight_decay = 0.01;
  int64_t warmup_steps = 100;
  double prompt_dropout = 0.1;
  int64_t checkpoint_every = 250;
  int64_t log_every = 25;
  uint64_t seed = 1;
  std::string out_dir;  // model.safetensors + resumable state live here
};

// Runs (or resumes, if out_dir holds a checkpoint) pretraining; writes
// out_dir/model.safetensors at every checkpoint and at the end. `log` gets progress lines.
Status RunPretrain(const PretrainOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace maskgrpo
