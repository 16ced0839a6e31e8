// Sampler and transformer throughput benchmark (LibTorch only, so it builds with the core
// library on GPU machines): images/s of the masked sampler, achieved GFLOP/s of the
// transformer forward, and a plain matmul's GFLOP/s measured in the same run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/transformer.h"

namespace maskgrpo {

struct SamplerBenchOptions {
  // "shapeworld" (the embedded default), "mid" (ShapeWorld's layout at hidden 512, 8 layers),
  // "showo512" (the transformer), or "magvit512" /
  // "magvit256" (Show-o's published MAGVIT-v2 decoder, 32x32 / 16x16 codes).
  std::string model = "shapeworld";
  std::string checkpoint;            // optional safetensors to load instead of random init
  DeviceOptions device;
  int threads = 0;
  int batch = 64;         // images per sampler call
  int steps = 16;         // unmasking steps
  double guidance = 2.0;  // CFG doubles the forward batch when != 0
  int repeats = 3;
  std::vector<int> sweep;  // batch sizes for the images/s-per-batch table; empty: none
  int forward_prompts = 0;  // the sampler's prompts per forward (SampleOptions::max_forward_prompts)
  // When set: the authors'-style loop's first image, drawn from a generator seeded with
  // loop_seed, is written here as .npy (compared with benchmarks/authors_loop.py's draw).
  std::string loop_codes;
  uint64_t loop_seed = 0;
};

// Runs the benchmark and prints a table to stdout.
Status RunSamplerBench(const SamplerBenchOptions& options);

}  // namespace maskgrpo
