// One integer mix for the seeds derived from a run's seed: `train`'s sampler rounds and the
// learner service's per-lease sampling seeds use the same function, so the two derive their
// rollout seeds the same way.
#pragma once

#include <cstdint>

namespace maskgrpo::grpo {

inline uint64_t MixSeed(uint64_t seed, uint64_t n) {
  const uint64_t x = (seed + 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull ^ (n * 0x94D049BB133111EBull);
  return x ^ (x >> 29);
}

}  // namespace maskgrpo::grpo
