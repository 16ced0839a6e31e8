// The optimiser both trainers use: AdamW without weight decay on biases and 1-D
// parameters (LayerNorm), a warm-up + cosine learning-rate schedule, and checked
// save/load of the optimiser state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "core/transformer.h"

namespace torch::optim {
class AdamW;
}  // namespace torch::optim

namespace maskgrpo {

struct AdamWSettings {
  double learning_rate = 1e-3;
  double beta1 = 0.9, beta2 = 0.95;
  double weight_decay = 0.01;  // applied to matrices only
};

// Over the parameters that require gradients (frozen ones are left out).
std::unique_ptr<torch::optim::AdamW> MakeAdamW(const MaskedTransformer& model, const AdamWSettings& settings);
void SetLearningRate(torch::optim::AdamW& optimizer, double lr);

// Linear warm-up over `warmup` steps to `base`, then cosine decay to base * min_ratio at
// `total` steps (held there afterwards).
double WarmupCosineLr(double base, double min_ratio, int64_t warmup, int64_t total, int64_t step);

// Writes atomically (temp file + rename). Loading a file that does not match the
// optimiser's parameters is an error naming the file; the optimiser is left untouched.
Status SaveOptimizer(const torch::optim::AdamW& optimizer, const std::string& path);
Status LoadOptimizer(torch::optim::AdamW& optimizer, const std::string& path);

}  // namespace maskgrpo
